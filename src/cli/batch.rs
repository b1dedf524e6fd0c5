//! Directory runs (`-r`, several inputs, `-o DIR`): several files in flight at
//! once, and durability in batches.
//!
//! A thread walks the plan and hands jobs to a few workers; each worker
//! encrypts or decrypts one file into its temporary output and hands it back
//! [`Finished`]: written, not yet synced or renamed. The calling thread
//! collects those and commits them together ([`commit_all`]): one filesystem
//! sync, then the renames, then one sync per directory. The promise of a single
//! file holds for each file of the run: nothing appears under an output name
//! unless it is complete and on disk. What a file costs is then its own work,
//! not two disk flushes.
//!
//! Memory stays flat in the number of files: the walk holds one directory
//! listing at a time (see [`Plan::steps`]), at most [`in_flight`] jobs are
//! queued or running, and a batch holds at most [`BATCH_FILES`] outputs.

use std::fs;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::thread;

use envelope::stream::StreamSummary;

use super::crypt::{report, run_job, Body};
use super::error::CliError;
use super::keyrings::Mode;
use super::metadata::Metadata;
use super::output::{commit_all, Finished, MadeDirs, Parents};
use super::plan::{Job, Plan, Step};
use super::ui::{Progress, Ui};
use super::CommonArgs;

/// Outputs committed together, at most.
pub const BATCH_FILES: usize = 256;
/// Output bytes committed together, at most: past this a batch is committed
/// early, so that a large tree keeps little unsynced data in flight.
const BATCH_BYTES: u64 = 256 << 20;

/// How many workers a directory run uses: twice the `--threads` count (the
/// cores by default), since a small file's time is mostly system calls and a
/// worker waiting on one leaves its core to another.
fn in_flight(threads: usize) -> usize {
    threads.clamp(1, 32) * 2
}

/// A worker's answer for one job.
type Done = (Job, Result<(StreamSummary, Option<Finished>), CliError>);

/// What the walk sends back besides finished jobs.
enum Event {
    Done(Box<Done>),
    /// The walk itself failed (a directory that cannot be listed).
    WalkFailed(CliError),
}

/// Runs the jobs of a directory plan; see the module documentation.
pub fn run(
    plan: &Plan,
    common: &CommonArgs,
    mode: Mode,
    ui: &Ui,
    meta: &mut Metadata,
    progress: &Progress,
    body: &Body<'_>,
) -> Result<(), CliError> {
    let workers = in_flight(
        common
            .threads
            .map_or_else(envelope::stream::available_threads, usize::from),
    );
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(workers);
    let job_rx = Mutex::new(job_rx);
    let (event_tx, events) = mpsc::channel::<Event>();
    let mut tally = Tally::default();
    let made = MadeDirs::default();
    let made = &made;
    let collected = thread::scope(|s| {
        let feeder_events = event_tx.clone();
        s.spawn(move || feed(plan, job_tx, feeder_events));
        for _ in 0..workers {
            let (rx, tx) = (&job_rx, event_tx.clone());
            s.spawn(move || work(rx, tx, common.force, made, mode, progress, body));
        }
        drop(event_tx);
        collect(&events, made, mode, ui, meta, &mut tally)
    });
    made.remove_empty();
    collected?;
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

/// Walks the plan, queueing its jobs; a walk error is reported and ends the walk.
fn feed(plan: &Plan, jobs: SyncSender<Job>, events: Sender<Event>) {
    for step in plan.steps(None) {
        match step {
            Ok(Step::File(job)) => {
                if jobs.send(job).is_err() {
                    return;
                }
            }
            Ok(Step::Dir(_)) => {}
            Err(e) => {
                let _ = events.send(Event::WalkFailed(e));
                return;
            }
        }
    }
}

/// A worker: runs jobs until the queue is closed and empty.
fn work(
    jobs: &Mutex<Receiver<Job>>,
    events: Sender<Event>,
    force: bool,
    made: &MadeDirs,
    mode: Mode,
    progress: &Progress,
    body: &Body<'_>,
) {
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        progress.set_file(&job.input_name());
        let r = run_job(&job, force, Parents::Shared(made), mode, progress, body)
            .and_then(|(summary, out)| out.finish().map(|f| (summary, f)));
        if events.send(Event::Done(Box::new((job, r)))).is_err() {
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

/// Takes the workers' results as they come, committing them in batches, and
/// records each file's outcome once it is final.
fn collect(
    events: &Receiver<Event>,
    made: &MadeDirs,
    mode: Mode,
    ui: &Ui,
    meta: &mut Metadata,
    tally: &mut Tally,
) -> Result<(), CliError> {
    let mut batch: Vec<(Job, StreamSummary, Finished)> = Vec::new();
    let mut batch_bytes = 0u64;
    for event in events {
        let (job, r) = match event {
            Event::Done(done) => *done,
            Event::WalkFailed(e) => {
                tally.failed(ui, e);
                continue;
            }
        };
        match r {
            Ok((summary, Some(finished))) => {
                batch_bytes += summary.bytes_out;
                batch.push((job, summary, finished));
                if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                    commit(&mut batch, made, mode, ui, meta, tally)?;
                    batch_bytes = 0;
                }
            }
            // A device or FIFO output: written directly, nothing to commit.
            Ok((summary, None)) => {
                meta.ok(mode, &job, &summary)?;
                report(ui, mode, &job, &summary);
            }
            Err(e) => {
                meta.failed(mode, &job, &e)?;
                tally.failed(ui, e);
            }
        }
    }
    commit(&mut batch, made, mode, ui, meta, tally)
}

/// Commits a batch and records each file's outcome.
fn commit(
    batch: &mut Vec<(Job, StreamSummary, Finished)>,
    made: &MadeDirs,
    mode: Mode,
    ui: &Ui,
    meta: &mut Metadata,
    tally: &mut Tally,
) -> Result<(), CliError> {
    let (done, finished): (Vec<_>, Vec<_>) = batch.drain(..).map(|(j, s, f)| ((j, s), f)).unzip();
    for ((job, summary), outcome) in done.into_iter().zip(commit_all(finished, made)) {
        match outcome {
            Ok(()) => {
                meta.ok(mode, &job, &summary)?;
                report(ui, mode, &job, &summary);
            }
            Err(e) => {
                meta.failed(mode, &job, &e)?;
                tally.failed(ui, e);
            }
        }
    }
    Ok(())
}
