//! A probe that tells a test whether an adapter's blocking tasks have ended.

use std::sync::{Arc, Weak};

/// The token every blocking task of one adapter holds while it runs (the
/// adapter holds one too); the probe watches it without keeping it alive.
#[derive(Debug, Clone, Default)]
pub(crate) struct Token(Arc<()>);

impl Token {
    pub fn probe(&self) -> TaskProbe {
        TaskProbe(Arc::downgrade(&self.0))
    }
}

/// Whether an adapter and every blocking task it started are gone. A test
/// takes one from an adapter, drops the adapter, and waits for
/// [`TaskProbe::all_ended`]: a task still alive long after is a leak.
#[derive(Debug, Clone)]
pub struct TaskProbe(Weak<()>);

impl TaskProbe {
    /// True once the adapter is dropped and none of its tasks is alive.
    pub fn all_ended(&self) -> bool {
        self.0.strong_count() == 0
    }

    /// How many holders remain: the adapter (while alive) and its live tasks.
    pub fn alive(&self) -> usize {
        self.0.strong_count()
    }
}
