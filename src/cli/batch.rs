//! Directory runs (`-r`, several inputs, `-o DIR`): several files in flight at
//! once, and durability in batches.
//!
//! The calling thread walks the plan and hands jobs to a few workers in
//! chunks of up to [`CHUNK_FILES`] (one hand-off, a channel send and a
//! thread wake-up, then serves several small files); each worker encrypts or
//! decrypts its files into their temporary outputs and hands them back
//! [`Finished`]: written, not yet synced or renamed. The calling thread takes
//! those back in walk order and gathers them in batches, which a committer
//! thread makes durable together ([`commit_all`]): one filesystem sync, then
//! the renames, then one sync for the renames. The promise of a single file
//! holds for each file of the run: nothing appears under an output name
//! unless it is complete and on disk. What a file costs is then its own work,
//! not two disk flushes, and the workers go on while a batch is on its way to
//! the disk. Outcomes are recorded (metadata lines, `-v` reports, errors) on
//! the calling thread once their batch is committed, in walk order.
//!
//! Memory stays flat in the number of files: the walk holds one directory
//! listing at a time (see [`Plan::steps`]), at most a window of jobs (a few
//! chunks per worker) is queued, running or waiting to be gathered, and at
//! most three batches of at most [`BATCH_FILES`] outputs are held: one
//! gathered, one waiting for the committer, one being committed. (With several `-i` inputs the plan's
//! check remembers every output path, to find two inputs meeting in one.)

use std::collections::{BTreeMap, VecDeque};
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

/// Files whose outcomes are committed and recorded together, at most. Each
/// batch costs two filesystem syncs, each a journal commit that waits for
/// the disk.
pub const BATCH_FILES: usize = 1024;
/// Output bytes committed together, at most: past this a batch is committed
/// early, so that a large tree keeps little unsynced data in flight.
const BATCH_BYTES: u64 = 256 << 20;

/// How many workers a directory run uses: four per `--threads` (the cores by
/// default), at most 64. Inputs of a backup are rarely in the page cache, and
/// a worker waiting for a read leaves its core to another while the disk
/// serves several reads at once. With the page cache dropped, a 5,000-file
/// tree with 0x0478 ran 13% faster with four workers per core than with two
/// (README, Small work), the signing suites 2-5%; with cached inputs the
/// count made no difference beyond the noise, for about 1 MiB more memory.
fn workers(threads: usize) -> usize {
    threads.clamp(1, 16) * 4
}

/// Chunks handed out ahead of the oldest job not yet done, per worker.
/// Results are recorded in the order of the walk (metadata lines, `-v`
/// reports and errors read as for one file at a time), so a slow file holds
/// back the record of those after it; the window bounds what waits behind
/// it. Two chunks each keep every worker busy while the calling thread
/// commits a batch.
const AHEAD_PER_WORKER: usize = 2;

/// Jobs handed to a worker at once, at most. A small file costs tens of
/// microseconds; handing each over alone (a send, a wake-up, a reply) cost
/// a fifth of a run's time. A large file in a chunk still uses every core:
/// its own pipeline is parallel.
const CHUNK_FILES: usize = 16;

/// Consecutive jobs, with the walk-order number of the first.
type Chunk = (u64, Vec<Job>);

/// What the calling thread hears from the workers and the committer.
enum Msg {
    /// A worker's answers for one chunk (numbered as it was), in its order.
    Done(u64, Vec<(Job, Outcome)>),
    /// The committer's outcomes for the oldest batch sent to it, in its order.
    Committed(Vec<Result<(), CliError>>),
}

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
    let window = workers * AHEAD_PER_WORKER * CHUNK_FILES;
    // Room for the whole window even in chunks of one job (sent when the
    // window fills mid-chunk): handing out a chunk never blocks.
    let (job_tx, job_rx) = mpsc::sync_channel::<Chunk>(window);
    let job_rx = Mutex::new(job_rx);
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    // One batch waits while another is committed; a third is gathered.
    let (commit_tx, commit_rx) = mpsc::sync_channel::<Vec<Finished>>(1);
    let made = MadeDirs::default();
    let (collected, mut tally) = thread::scope(|s| {
        for _ in 0..workers {
            let (rx, tx, made) = (&job_rx, msg_tx.clone(), &made);
            s.spawn(move || work(rx, tx, common, made, mode, progress, body));
        }
        let (tx, made) = (msg_tx, &made);
        s.spawn(move || commit_batches(commit_rx, tx, made));
        let mut record = Record {
            batch: Vec::new(),
            batch_bytes: 0,
            committing: VecDeque::new(),
            to_commit: commit_tx,
            tally: Tally::default(),
            mode,
        };
        // On an early return the queues are closed (the job queue by
        // `dispatch`, the committer's as `record` goes): the workers finish
        // what they hold and stop, and so does the committer.
        let r = dispatch(plan, window, job_tx, &msg_rx, ui, meta, &mut record);
        (r, record.tally)
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
    for step in plan.steps(None, false) {
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
    jobs: SyncSender<Chunk>,
    inbox: &Receiver<Msg>,
    ui: &Ui,
    meta: &mut Metadata,
    record: &mut Record,
) -> Result<(), CliError> {
    let stopped = || CliError::io("a directory run", io::Error::other("its workers stopped"));
    let mut steps = plan.steps(None, false);
    let mut walking = true;
    let (mut next, mut oldest) = (0u64, 0u64);
    let mut chunk: Vec<Job> = Vec::with_capacity(CHUNK_FILES);
    let mut waiting: BTreeMap<u64, Vec<(Job, Outcome)>> = BTreeMap::new();
    loop {
        while walking && next - oldest < window as u64 {
            match steps.next() {
                Some(Ok(Step::File(job))) if plan.skips(&job) => {}
                Some(Ok(Step::File(job))) => {
                    chunk.push(job);
                    next += 1;
                    if chunk.len() == CHUNK_FILES {
                        let first = next - CHUNK_FILES as u64;
                        jobs.send((first, std::mem::take(&mut chunk)))
                            .map_err(|_| stopped())?;
                    }
                }
                Some(Ok(Step::Dir(_))) => {}
                Some(Err(e)) => {
                    record.tally.failed(ui, e);
                    walking = false;
                }
                None => walking = false,
            }
        }
        // The window is full or the walk is over: what is gathered goes now.
        if !chunk.is_empty() {
            let first = next - chunk.len() as u64;
            jobs.send((first, std::mem::take(&mut chunk)))
                .map_err(|_| stopped())?;
        }
        if oldest == next {
            break;
        }
        match inbox.recv().map_err(|_| stopped())? {
            Msg::Done(first, outcomes) => {
                waiting.insert(first, outcomes);
            }
            Msg::Committed(results) => record.committed(results, ui, meta)?,
        }
        while let Some(outcomes) = waiting.remove(&oldest) {
            oldest += outcomes.len() as u64;
            for (job, r) in outcomes {
                record.take(job, r)?;
            }
        }
    }
    drop(jobs);
    record.send_batch()?;
    while !record.committing.is_empty() {
        match inbox.recv().map_err(|_| stopped())? {
            Msg::Committed(results) => record.committed(results, ui, meta)?,
            Msg::Done(..) => {
                return Err(CliError::io(
                    "a directory run",
                    io::Error::other("a job ran twice"),
                ))
            }
        }
    }
    Ok(())
}

/// The committer: makes each batch durable and final, in the order sent.
fn commit_batches(batches: Receiver<Vec<Finished>>, outcomes: Sender<Msg>, made: &MadeDirs) {
    for batch in batches {
        if outcomes.send(Msg::Committed(commit_all(batch, made))).is_err() {
            return;
        }
    }
}

/// A worker: runs chunks of jobs until the queue is closed and empty.
fn work(
    jobs: &Mutex<Receiver<Chunk>>,
    done: Sender<Msg>,
    common: &CommonArgs,
    made: &MadeDirs,
    mode: Op,
    progress: &Progress,
    body: &Body<'_>,
) {
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((first, chunk)) = next else { return };
        let outcomes = chunk
            .into_iter()
            .map(|job| {
                progress.set_file(&job.input_name());
                let r = run_job(&job, common, Parents::Shared(made), mode, progress, body)
                    .and_then(|(summary, out)| out.finish().map(|f| (summary, f)));
                (job, r)
            })
            .collect();
        if done.send(Msg::Done(first, outcomes)).is_err() {
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

/// A written output's outcome while its batch is committed: its summary and
/// whether it has a file to commit, or its failure.
type Written = Result<(StreamSummary, bool), CliError>;

/// The outcomes gathered into the next batch, those whose batch is being
/// committed, and what the run has recorded so far.
struct Record {
    /// In walk order; failures wait too, so that every record (metadata
    /// line, `-v` report, error line) comes in the walk's order.
    batch: Vec<(Job, Outcome)>,
    /// Output bytes in the batch.
    batch_bytes: u64,
    /// The batches sent to the committer, oldest first, with their outcomes so far.
    committing: VecDeque<Vec<(Job, Written)>>,
    to_commit: SyncSender<Vec<Finished>>,
    tally: Tally,
    mode: Op,
}

impl Record {
    /// Takes one job's outcome, in walk order; sends the batch when full.
    fn take(&mut self, job: Job, r: Outcome) -> Result<(), CliError> {
        if let Ok((summary, Some(_))) = &r {
            self.batch_bytes += summary.bytes_out;
        }
        self.batch.push((job, r));
        if self.batch.len() >= BATCH_FILES || self.batch_bytes >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    /// Sends the batch's outputs to the committer (waiting while it still
    /// has one batch queued), keeping the outcomes for their record.
    fn send_batch(&mut self) -> Result<(), CliError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        let mut finished = Vec::new();
        let mut written = Vec::with_capacity(self.batch.len());
        for (job, r) in self.batch.drain(..) {
            written.push(match r {
                Ok((summary, Some(f))) => {
                    finished.push(f);
                    (job, Ok((summary, true)))
                }
                Ok((summary, None)) => (job, Ok((summary, false))),
                Err(e) => (job, Err(e)),
            });
        }
        self.to_commit
            .send(finished)
            .map_err(|_| CliError::io("a directory run", io::Error::other("its committer stopped")))?;
        self.committing.push_back(written);
        Ok(())
    }

    /// Records the outcomes of the oldest batch sent, now that it is committed.
    fn committed(
        &mut self,
        results: Vec<Result<(), CliError>>,
        ui: &Ui,
        meta: &mut Metadata,
    ) -> Result<(), CliError> {
        let written = self.committing.pop_front().unwrap_or_default();
        let mut committed = results.into_iter();
        for (job, r) in written {
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
