//! Directory runs (`-r`, several inputs, `-o DIR`): several files in flight at
//! once, and durability in batches.
//!
//! The calling thread walks the plan and hands jobs to a few workers; each
//! worker encrypts or decrypts one file into its temporary output and hands it
//! back [`Finished`]: written, not yet synced or renamed. The calling thread
//! takes those back in walk order and commits them together ([`commit_all`]): one filesystem
//! sync, then the renames, then one sync per directory. The promise of a single
//! file holds for each file of the run: nothing appears under an output name
//! unless it is complete and on disk. What a file costs is then its own work,
//! not two disk flushes.
//!
//! Memory stays flat in the number of files: the walk holds one directory
//! listing at a time (see [`Plan::steps`]), at most a window of jobs (a few
//! per worker) is queued, running or waiting to be recorded, and a batch
//! holds at most [`BATCH_FILES`] outputs. (With several `-i` inputs the plan's
//! check remembers every output path, to find two inputs meeting in one.)

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::thread;

use envelope::stream::StreamSummary;

use super::crypt::{report, run_job, Body};
use super::error::CliError;
use super::metadata::Metadata;
use super::output::{commit_all, Finished, MadeDirs, Parents};
use super::plan::Op;
use super::plan::{Job, Plan, Step};
use super::ui::{Progress, Ui};
use super::CommonArgs;

/// Files whose outcomes are committed and recorded together, at most.
pub const BATCH_FILES: usize = 256;
/// Output bytes committed together, at most: past this a batch is committed
/// early, so that a large tree keeps little unsynced data in flight.
const BATCH_BYTES: u64 = 256 << 20;

/// How many workers a directory run uses: twice the `--threads` count (the
/// cores by default), since a small file's time is mostly system calls and a
/// worker waiting on one leaves its core to another.
fn workers(threads: usize) -> usize {
    threads.clamp(1, 32) * 2
}

/// Jobs handed out ahead of the oldest one not yet done, per worker. Results
/// are recorded in the order of the walk (metadata lines, `-v` reports and
/// errors read as for one file at a time), so a slow file holds back the
/// record of those after it; the window bounds what waits behind it.
const AHEAD_PER_WORKER: usize = 4;

/// A job, numbered in walk order.
type Numbered = (u64, Job);

/// A worker's answer for one job.
type Done = (u64, Job, Result<(StreamSummary, Option<Finished>), CliError>);

/// Runs the jobs of a directory plan; see the module documentation.
pub fn run(
    plan: &Plan,
    common: &CommonArgs,
    mode: Op,
    ui: &Ui,
    meta: &mut Metadata,
    progress: &Progress,
    body: &Body<'_>,
) -> Result<(), CliError> {
    let workers = workers(
        common
            .threads
            .map_or_else(envelope::stream::available_threads, usize::from),
    );
    let window = workers * AHEAD_PER_WORKER;
    // Room for the whole window: handing out a job never blocks.
    let (job_tx, job_rx) = mpsc::sync_channel::<Numbered>(window);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Box<Done>>();
    let made = MadeDirs::default();
    let mut record = Record {
        batch: Vec::new(),
        batch_bytes: 0,
        made: &made,
        tally: Tally::default(),
        mode,
    };
    let collected = thread::scope(|s| {
        for _ in 0..workers {
            let (rx, tx, made) = (&job_rx, done_tx.clone(), &made);
            s.spawn(move || work(rx, tx, common, made, mode, progress, body));
        }
        drop(done_tx);
        // On an early return the queue is closed: the workers finish what
        // they hold and stop.
        dispatch(plan, window, job_tx, &done_rx, ui, meta, &mut record)
    });
    made.remove_empty();
    collected?;
    let tally = &mut record.tally;
    if let Some(code) = tally.first_failure {
        return Err(match tally.only_error.take() {
            Some(e) if plan.files == 1 => e,
            _ => CliError::with_code(code, format!("{} of {} files failed", tally.failures, plan.files)),
        });
    }
    // Empty directories of the input trees are mirrored too, once every file made it.
    for step in plan.steps(None) {
        if let Step::Dir(d) = step? {
            fs::create_dir_all(&d).map_err(|e| CliError::io(format!("cannot create {}", d.display()), e))?;
        }
    }
    Ok(())
}

/// Walks the plan, keeping up to `window` jobs handed out past the oldest
/// unfinished one, and takes the workers' results back in walk order. A walk
/// error (a directory that cannot be listed) is reported and ends the walk.
fn dispatch(
    plan: &Plan,
    window: usize,
    jobs: SyncSender<Numbered>,
    done: &Receiver<Box<Done>>,
    ui: &Ui,
    meta: &mut Metadata,
    record: &mut Record<'_>,
) -> Result<(), CliError> {
    let mut steps = plan.steps(None);
    let mut walking = true;
    let (mut next, mut oldest) = (0u64, 0u64);
    let mut waiting: BTreeMap<u64, Box<Done>> = BTreeMap::new();
    loop {
        while walking && next - oldest < window as u64 {
            match steps.next() {
                Some(Ok(Step::File(job))) if plan.skips(&job) => {}
                Some(Ok(Step::File(job))) => {
                    if jobs.send((next, job)).is_err() {
                        return Err(CliError::io(
                            "a directory run",
                            io::Error::other("its workers stopped"),
                        ));
                    }
                    next += 1;
                }
                Some(Ok(Step::Dir(_))) => {}
                Some(Err(e)) => {
                    record.tally.failed(ui, e);
                    walking = false;
                }
                None => walking = false,
            }
        }
        if oldest == next {
            break;
        }
        let Ok(d) = done.recv() else {
            return Err(CliError::io(
                "a directory run",
                io::Error::other("its workers stopped"),
            ));
        };
        waiting.insert(d.0, d);
        while let Some(d) = waiting.remove(&oldest) {
            oldest += 1;
            let (_, job, r) = *d;
            record.take(job, r, ui, meta)?;
        }
    }
    drop(jobs);
    record.commit(ui, meta)
}

/// A worker: runs jobs until the queue is closed and empty.
fn work(
    jobs: &Mutex<Receiver<Numbered>>,
    done: Sender<Box<Done>>,
    common: &CommonArgs,
    made: &MadeDirs,
    mode: Op,
    progress: &Progress,
    body: &Body<'_>,
) {
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((n, job)) = next else { return };
        progress.set_file(&job.input_name());
        let r = run_job(&job, common, Parents::Shared(made), mode, progress, body)
            .and_then(|(summary, out)| out.finish().map(|f| (summary, f)));
        if done.send(Box::new((n, job, r))).is_err() {
            return;
        }
    }
}

/// Failures so far.
#[derive(Default)]
struct Tally {
    failures: usize,
    first_failure: Option<u8>,
    /// The first failure itself, returned as is when the run had one file.
    only_error: Option<CliError>,
}

impl Tally {
    fn failed(&mut self, ui: &Ui, e: CliError) {
        ui.error(&e.message);
        self.failures += 1;
        self.first_failure.get_or_insert(e.code);
        if self.only_error.is_none() {
            self.only_error = Some(e);
        }
    }
}

/// A job's outcome before its record: written (a file output still to commit,
/// or none for a device), or failed.
type Outcome = Result<(StreamSummary, Option<Finished>), CliError>;

/// The outcomes waiting for their batch to be committed, and what the run
/// has recorded so far.
struct Record<'a> {
    /// In walk order; failures wait too, so that every record (metadata
    /// line, `-v` report, error line) comes in the walk's order.
    batch: Vec<(Job, Outcome)>,
    /// Output bytes in the batch.
    batch_bytes: u64,
    made: &'a MadeDirs,
    tally: Tally,
    mode: Op,
}

impl Record<'_> {
    /// Takes one job's outcome, in walk order; commits the batch when full.
    fn take(&mut self, job: Job, r: Outcome, ui: &Ui, meta: &mut Metadata) -> Result<(), CliError> {
        if let Ok((summary, Some(_))) = &r {
            self.batch_bytes += summary.bytes_out;
        }
        self.batch.push((job, r));
        if self.batch.len() >= BATCH_FILES || self.batch_bytes >= BATCH_BYTES {
            self.commit(ui, meta)?;
        }
        Ok(())
    }

    /// Commits the batch's outputs together, then records every outcome.
    fn commit(&mut self, ui: &Ui, meta: &mut Metadata) -> Result<(), CliError> {
        self.batch_bytes = 0;
        let mut finished = Vec::new();
        let mut pending = Vec::with_capacity(self.batch.len());
        for (job, r) in self.batch.drain(..) {
            pending.push(match r {
                Ok((summary, Some(f))) => {
                    finished.push(f);
                    (job, Ok((summary, true)))
                }
                Ok((summary, None)) => (job, Ok((summary, false))),
                Err(e) => (job, Err(e)),
            });
        }
        let mut committed = commit_all(finished, self.made).into_iter();
        for (job, r) in pending {
            let r = match r {
                Ok((summary, true)) => match committed.next() {
                    Some(Ok(())) => Ok(summary),
                    Some(Err(e)) => Err(e),
                    None => Err(CliError::io(
                        job.input_name(),
                        io::Error::other("lost in its batch"),
                    )),
                },
                Ok((summary, false)) => Ok(summary),
                Err(e) => Err(e),
            };
            match r {
                Ok(summary) => {
                    meta.ok(self.mode, &job, &summary)?;
                    report(ui, self.mode, &job, &summary);
                }
                Err(e) => {
                    meta.failed(self.mode, &job, &e)?;
                    self.tally.failed(ui, e);
                }
            }
        }
        Ok(())
    }
}
