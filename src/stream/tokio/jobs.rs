//! Work moved off the runtime's worker threads: blocking tasks whose results
//! come back in the order they were started, and the signature hash passed
//! from task to task in message order.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::task::{ready, Context, Poll};

use ::tokio::runtime::Handle;
use ::tokio::task::{JoinError, JoinHandle};

use super::probe::Token;
use crate::crypto::signature::Hasher;
use crate::error::{ApiMisuse, Error, Result};

/// The runtime whose blocking pool an adapter uses: the one it was made in.
pub(super) fn current_runtime() -> Result<Handle> {
    Handle::try_current().map_err(|_| ApiMisuse::NoTokioRuntime.into())
}

/// What a blocking task's failure to report means: a panic goes on
/// unwinding in the caller (it is a bug, as in the thread pipeline); a
/// cancelled task means the runtime is shutting down under the adapter.
pub(super) fn joined<T>(r: std::result::Result<T, JoinError>) -> Result<T> {
    r.map_err(|e| match e.try_into_panic() {
        Ok(p) => std::panic::resume_unwind(p),
        Err(_) => Error::Io(std::io::Error::other(
            "the tokio runtime shut down while envelope was working",
        )),
    })
}

/// Runs `f` on the runtime's blocking pool and waits for it without blocking
/// a worker: the way every keyring call of the adapters is made.
pub(super) async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    joined(current_runtime()?.spawn_blocking(f).await)
}

/// Blocking tasks in flight, at most `cap`, whose results are taken in the
/// order the tasks were started. Dropping the queue aborts the tasks that
/// have not started; a running one finishes its one batch and its result,
/// zeroized buffers and all, is dropped.
pub(super) struct Ordered<T> {
    runtime: Handle,
    token: Token,
    queue: VecDeque<JoinHandle<T>>,
    cap: usize,
}

impl<T: Send + 'static> Ordered<T> {
    pub fn new(runtime: Handle, token: Token, cap: usize) -> Self {
        Ordered {
            runtime,
            token,
            queue: VecDeque::with_capacity(cap),
            cap: cap.max(1),
        }
    }

    pub fn has_room(&self) -> bool {
        self.queue.len() < self.cap
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Starts `f` on the blocking pool.
    pub fn push(&mut self, f: impl FnOnce() -> T + Send + 'static) {
        let token = self.token.clone();
        self.queue.push_back(self.runtime.spawn_blocking(move || {
            let _alive = token;
            f()
        }));
    }

    /// The oldest task's result once it is there; `Ready(None)` if none is in flight.
    pub fn poll_front(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let Some(front) = self.queue.front_mut() else {
            return Poll::Ready(None);
        };
        let r = ready!(Pin::new(front).poll(cx));
        self.queue.pop_front();
        Poll::Ready(Some(joined(r)))
    }
}

impl<T> Drop for Ordered<T> {
    fn drop(&mut self) {
        for h in &self.queue {
            h.abort();
        }
    }
}

/// The signature hash (signing suites only), handed from each batch task to
/// the next in message order: a task hashes its batch after the task started
/// before it has hashed its own, so the hash stays sequential while the
/// AES-GCM work of the tasks overlaps. The blocking pool starts tasks in the
/// order they were spawned, so a task only ever waits for one that is
/// already running.
pub(super) struct HashChain {
    last: Option<Receiver<Option<Hasher>>>,
}

/// One task's place in the [`HashChain`].
pub(super) struct Link {
    prev: Receiver<Option<Hasher>>,
    next: SyncSender<Option<Hasher>>,
}

impl Link {
    /// Waits for the hash from the task before, feeds it `bytes` (unless
    /// `skip`: a batch that failed is not hashed) and hands it on.
    pub fn hash(self, skip: bool, bytes: &[u8]) {
        let hasher = self.prev.recv().ok().flatten().map(|mut h| {
            if !skip {
                h.update(bytes);
            }
            h
        });
        // The next task (or the adapter) may be gone: then nobody needs it.
        let _ = self.next.send(hasher);
    }
}

impl HashChain {
    pub fn new(hasher: Option<Hasher>) -> Self {
        let last = hasher.map(|h| {
            let (tx, rx) = sync_channel(1);
            // The channel has room for the one value and its receiver is here.
            let _ = tx.send(Some(h));
            rx
        });
        HashChain { last }
    }

    /// The next task's link; `None` for unsigned suites.
    pub fn link(&mut self) -> Option<Link> {
        let prev = self.last.take()?;
        let (next, rx) = sync_channel(1);
        self.last = Some(rx);
        Some(Link { prev, next })
    }

    /// The hash after the last task, once every task has ended (`Ok(None)`
    /// for unsigned suites).
    pub fn take(&mut self) -> Result<Option<Hasher>> {
        match self.last.take() {
            None => Ok(None),
            Some(rx) => rx
                .try_recv()
                .ok()
                .flatten()
                .map(Some)
                .ok_or(Error::Unreachable("the signature hash was not handed on")),
        }
    }
}
