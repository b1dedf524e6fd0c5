//! What the tool says on stderr besides errors: notes (`-q` silences them),
//! warnings (it does not), detail (`-v`), and a progress bar.
//!
//! The bar is drawn only when stderr is a terminal, `-q` is not given, and the
//! run has lasted about a second: short runs and scripts never see it. Notes
//! printed while it is shown suspend it, so lines never tear.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::terminal;

/// How long a run goes before its progress bar appears.
const BAR_DELAY: Duration = Duration::from_secs(1);

/// Verbosity and the progress bar currently on screen.
pub struct Ui {
    quiet: bool,
    verbose: u8,
    bar: Arc<Mutex<Option<ProgressBar>>>,
    /// Warnings already printed: each is said once per run.
    warned: Mutex<BTreeSet<String>>,
}

impl Ui {
    pub fn new(quiet: bool, verbose: u8) -> Ui {
        Ui {
            quiet,
            verbose,
            bar: Arc::new(Mutex::new(None)),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// A note for the user (key store created, files skipped); silenced by `-q`.
    pub fn note(&self, msg: impl Display) {
        if !self.quiet {
            self.eprint(msg);
        }
    }

    /// Detail shown at verbosity `level` (`-v` is 1) and above.
    pub fn detail(&self, level: u8, msg: impl Display) {
        if self.verbose >= level {
            self.eprint(msg);
        }
    }

    /// Whether [`Ui::detail`] at `level` prints anything.
    pub fn verbose(&self, level: u8) -> bool {
        self.verbose >= level
    }

    /// A warning the user must see (a key file open to others); printed even
    /// under `-q`, and only the first time in a run.
    pub fn warning(&self, msg: impl Display) {
        let line = msg.to_string();
        let first = self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(line.clone());
        if first {
            self.eprint(line);
        }
    }

    /// An error line; printed even under `-q`.
    pub fn error(&self, msg: impl Display) {
        self.eprint(msg);
    }

    /// Writes `envelope: msg` to stderr around the progress bar, escaped and
    /// bounded ([`terminal::line`]). A stderr that cannot be written is
    /// ignored: there is nowhere left to report it.
    fn eprint(&self, msg: impl Display) {
        let line = terminal::line("envelope", msg);
        let bar = self.bar.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let write = || {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }

    /// Whether a progress bar could be shown at all: stderr is a terminal and
    /// not `-q`.
    pub fn may_show_progress(&self) -> bool {
        !self.quiet && io::stderr().is_terminal()
    }

    /// Starts progress over `total` bytes (`None`: unknown, a spinner). The
    /// returned handle is inert unless `wanted` and [`Ui::may_show_progress`].
    pub fn progress(&self, total: Option<u64>, wanted: bool) -> Progress {
        if !wanted || !self.may_show_progress() {
            return Progress {
                bar: None,
                stop: None,
            };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        let template = match total {
            Some(_) => "{spinner} {wide_msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {eta}",
            None => "{spinner} {wide_msg} {bytes} {bytes_per_sec}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        *self.bar.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        // Show the bar after BAR_DELAY unless the run ends first (the sender is
        // dropped). A thread rather than a check in `inc`, so that a read that
        // blocks on a slow pipe still gets its spinner.
        // The slot's lock orders this against the bar's removal in `drop`.
        let (stop, waiter) = mpsc::channel::<()>();
        let slot = self.bar.clone();
        thread::spawn(move || {
            if waiter.recv_timeout(BAR_DELAY) == Err(RecvTimeoutError::Timeout) {
                if let Some(b) = slot.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                    b.set_draw_target(ProgressDrawTarget::stderr());
                    b.enable_steady_tick(Duration::from_millis(120));
                }
            }
        });
        Progress {
            bar: Some((bar, self.bar.clone())),
            stop: Some(stop),
        }
    }
}

/// A run's progress; removes its bar when dropped.
pub struct Progress {
    bar: Option<(ProgressBar, Arc<Mutex<Option<ProgressBar>>>)>,
    stop: Option<mpsc::Sender<()>>,
}

impl Progress {
    /// Names the file being processed.
    pub fn set_file(&self, name: &str) {
        if let Some((b, _)) = &self.bar {
            b.set_message(name.to_owned());
        }
    }

    /// Counts `n` more input bytes.
    pub fn inc(&self, n: u64) {
        if let Some((b, _)) = &self.bar {
            b.inc(n);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.take();
        if let Some((b, slot)) = self.bar.take() {
            let mut current = slot.lock().unwrap_or_else(PoisonError::into_inner);
            *current = None;
            b.finish_and_clear();
        }
    }
}
