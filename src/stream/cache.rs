//! Data-key caching: one keyring call for many small messages.
//!
//! This follows the ESDK's caching CMM: an entry is reused only while it is
//! younger than the maximum age and has protected fewer messages and bytes
//! than the limits; entries are partitioned by a partition name (which stands
//! for the keyring), the suite and the whole encryption context; suites
//! without key derivation (0x0014, 0x0046, 0x0078) are never cached, since
//! there every message would share one content key; and a message of unknown
//! length is never cached (AWS: "data key caching is not used for data of
//! unknown size"), since its bytes could not be counted against the limit.
//!
//! Beyond the ESDK it is single-flight: while one message asks the keyring
//! for the materials of a cold entry, others for the same entry wait for that
//! answer instead of each making their own call. No lock is held while the
//! keyring runs. If that call fails, each waiter calls the keyring itself,
//! uncached, so it reports its own error and never waits forever.
//!
//! What is cached is the whole of the encryption materials, the signing key
//! of a signing suite included: its public key is part of the encryption
//! context the data key was wrapped under, so the two cannot be separated.
//! Secrets are zeroized when the last message using an evicted entry is done.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::crypto::signature::Signer;
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::format::context::EncryptionContext;
use crate::format::edk::EncryptedDataKey;
use crate::suite::{AlgorithmSuite, Kdf};

/// The ESDK's ceiling on messages per cached data key (2^32).
pub const MAX_MESSAGES_LIMIT: u64 = 1 << 32;
/// The ESDK's ceiling on bytes per cached data key (2^63 - 1).
pub const MAX_BYTES_LIMIT: u64 = i64::MAX as u64;

/// When a cached data key stops being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// An entry at least this old is never used again. Required, above zero.
    pub max_age: Duration,
    /// Messages one data key may protect, 1 to 2^32 (the default).
    pub max_messages: u64,
    /// Plaintext bytes one data key may protect, 0 to 2^63-1 (the default).
    pub max_bytes: u64,
}

impl CachePolicy {
    /// A policy with the given age and the ESDK's default limits.
    pub fn new(max_age: Duration) -> Self {
        CachePolicy {
            max_age,
            max_messages: MAX_MESSAGES_LIMIT,
            max_bytes: MAX_BYTES_LIMIT,
        }
    }

    fn check(&self) -> Result<()> {
        if self.max_age.is_zero() {
            return Err(Error::Config("cache: max age must be above zero".into()));
        }
        if self.max_messages == 0 || self.max_messages > MAX_MESSAGES_LIMIT {
            return Err(Error::Config(format!(
                "cache: max messages must be between 1 and {MAX_MESSAGES_LIMIT}, not {}",
                self.max_messages
            )));
        }
        if self.max_bytes > MAX_BYTES_LIMIT {
            return Err(Error::Config(format!(
                "cache: max bytes must be at most {MAX_BYTES_LIMIT}, not {}",
                self.max_bytes
            )));
        }
        Ok(())
    }
}

/// The time source of a cache; tests inject one to expire entries without
/// sleeping.
pub trait CacheClock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl CacheClock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A bounded store of encryption materials, shared by clones (one cache for
/// all the messages, files and threads of a run).
#[derive(Clone)]
pub struct DataKeyCache {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a pending entry is settled.
    settled: Condvar,
    capacity: usize,
    clock: Arc<dyn CacheClock>,
}

#[derive(Default)]
struct State {
    slots: HashMap<CacheKey, Slot>,
    /// Numbers pending generations and orders uses (for LRU).
    tick: u64,
}

enum Slot {
    /// A keyring call is under way; the number tells one call from the next.
    Pending(u64),
    /// That call failed; its waiters make their own calls.
    Failed(u64),
    Ready(Entry),
}

struct Entry {
    materials: Arc<CachedMaterials>,
    created: Instant,
    messages: u64,
    bytes: u64,
    last_used: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    partition: String,
    suite: u16,
    encryption_context: EncryptionContext,
    required_keys: Vec<String>,
}

/// The encryption materials of one data key, as the keyring left them.
pub(crate) struct CachedMaterials {
    pub data_key: Secret,
    pub encryption_context: EncryptionContext,
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    pub signer: Option<Arc<Signer>>,
}

impl fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyCache")
            .field("capacity", &self.shared.capacity)
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl DataKeyCache {
    /// A cache of at most `capacity` entries (at least 1), on the system clock.
    pub fn new(capacity: usize) -> Result<Self> {
        Self::with_clock(capacity, Arc::new(SystemClock))
    }

    /// A cache on the given clock.
    pub fn with_clock(capacity: usize, clock: Arc<dyn CacheClock>) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::Config("cache: capacity must be at least 1".into()));
        }
        Ok(DataKeyCache {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                settled: Condvar::new(),
                capacity,
                clock,
            }),
        })
    }

    /// Entries held now (ready ones; pending calls are not counted).
    pub fn len(&self) -> usize {
        let st = self.lock();
        st.slots.values().filter(|s| matches!(s, Slot::Ready(_))).count()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evicts every entry (their secrets are zeroized once no message uses them).
    pub fn clear(&self) {
        self.lock().slots.retain(|_, s| !matches!(s, Slot::Ready(_)));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, so a panic elsewhere
        // does not make it unusable.
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The materials for one message of `len` bytes under `key`: a cached
    /// entry that is still within `policy`, or the answer of `generate`
    /// (which then fills the entry). See the module comment for waiting.
    pub(crate) fn get_or_generate(
        &self,
        key: &CacheKey,
        len: u64,
        policy: &CachePolicy,
        generate: &dyn Fn() -> Result<CachedMaterials>,
    ) -> Result<Arc<CachedMaterials>> {
        let mut st = self.lock();
        let mut waited_for = None;
        loop {
            let now = self.shared.clock.now();
            st.tick += 1;
            let tick = st.tick;
            match st.slots.get_mut(key) {
                Some(Slot::Pending(n)) => {
                    waited_for = Some(*n);
                    st = self
                        .shared
                        .settled
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
                Some(Slot::Ready(e)) => {
                    if usable(e, now, len, policy) {
                        e.messages += 1;
                        e.bytes += len;
                        e.last_used = tick;
                        let m = Arc::clone(&e.materials);
                        if e.messages >= policy.max_messages || e.bytes >= policy.max_bytes {
                            st.slots.remove(key);
                        }
                        return Ok(m);
                    }
                    st.slots.remove(key);
                }
                Some(Slot::Failed(n)) if waited_for == Some(*n) => {
                    // The call this message waited for failed: make our own,
                    // uncached, and report its outcome.
                    drop(st);
                    return generate().map(Arc::new);
                }
                Some(Slot::Failed(_)) | None => {}
            }
            // Cold: this message makes the keyring call for everyone.
            st.slots.insert(key.clone(), Slot::Pending(tick));
            drop(st);
            let settle = Settle {
                cache: self,
                key,
                generation: tick,
            };
            let m = Arc::new(generate()?);
            let created = self.shared.clock.now();
            let mut st = self.lock();
            std::mem::forget(settle);
            let spent = 1 >= policy.max_messages || len >= policy.max_bytes;
            if spent || !matches!(st.slots.get(key), Some(Slot::Pending(n)) if *n == tick) {
                st.slots.remove(key);
            } else {
                self.make_room(&mut st);
                st.slots.insert(
                    key.clone(),
                    Slot::Ready(Entry {
                        materials: Arc::clone(&m),
                        created,
                        messages: 1,
                        bytes: len,
                        last_used: tick,
                    }),
                );
            }
            drop(st);
            self.shared.settled.notify_all();
            return Ok(m);
        }
    }

    /// Evicts the least recently used ready entry while the cache is full.
    fn make_room(&self, st: &mut State) {
        st.slots.retain(|_, s| !matches!(s, Slot::Failed(_)));
        loop {
            let ready = st.slots.values().filter(|s| matches!(s, Slot::Ready(_))).count();
            if ready < self.shared.capacity {
                return;
            }
            let oldest = st
                .slots
                .iter()
                .filter_map(|(k, s)| match s {
                    Slot::Ready(e) => Some((e.last_used, k)),
                    Slot::Pending(_) | Slot::Failed(_) => None,
                })
                .min_by_key(|(t, _)| *t)
                .map(|(_, k)| k.clone());
            match oldest {
                Some(k) => {
                    st.slots.remove(&k);
                }
                None => return,
            }
        }
    }
}

/// Marks a pending slot failed when its keyring call fails or panics, and
/// wakes the waiters (who then make their own calls).
struct Settle<'a> {
    cache: &'a DataKeyCache,
    key: &'a CacheKey,
    generation: u64,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let mut st = self.cache.lock();
        if matches!(st.slots.get(self.key), Some(Slot::Pending(n)) if *n == self.generation) {
            st.slots.insert(self.key.clone(), Slot::Failed(self.generation));
        }
        drop(st);
        self.cache.shared.settled.notify_all();
    }
}

fn usable(e: &Entry, now: Instant, len: u64, policy: &CachePolicy) -> bool {
    now.saturating_duration_since(e.created) < policy.max_age
        && e.messages < policy.max_messages
        && e.bytes.checked_add(len).is_some_and(|b| b <= policy.max_bytes)
}

/// Caching for one source of data keys: the shared cache, the partition
/// that stands for the keyring, and the limits.
///
/// Two keyrings must never share a partition: an entry filled through one
/// would be served to messages meant for the other. [`Caching::new`] draws a
/// random partition name, as the ESDK does when none is given.
#[derive(Clone)]
pub struct Caching {
    /// The store, shared with other partitions if wished.
    pub cache: DataKeyCache,
    /// The name of this keyring's partition.
    pub partition: String,
    /// When an entry stops being used.
    pub policy: CachePolicy,
}

impl fmt::Debug for Caching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caching")
            .field("partition", &self.partition)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Caching {
    /// Caching in a partition of its own (a random name), after checking the policy.
    pub fn new(cache: DataKeyCache, policy: CachePolicy) -> Result<Self> {
        let mut id = [0u8; 16];
        crate::crypto::fill_random(&mut id)?;
        let partition = id.iter().map(|b| format!("{b:02x}")).collect();
        Self::with_partition(cache, partition, policy)
    }

    /// Caching in the named partition.
    pub fn with_partition(cache: DataKeyCache, partition: String, policy: CachePolicy) -> Result<Self> {
        policy.check()?;
        Ok(Caching {
            cache,
            partition,
            policy,
        })
    }

    /// The cache key of a message, or `None` when the message is not cached:
    /// a suite without key derivation, an unknown length, or a length over
    /// the byte limit (as the ESDK bypasses the cache for each).
    pub(crate) fn key_for(
        &self,
        suite: &'static AlgorithmSuite,
        encryption_context: &EncryptionContext,
        required_keys: &[String],
        len: Option<u64>,
    ) -> Option<CacheKey> {
        let len = len?;
        if suite.kdf == Kdf::Identity || len > self.policy.max_bytes {
            return None;
        }
        let mut required_keys = required_keys.to_vec();
        required_keys.sort();
        required_keys.dedup();
        Some(CacheKey {
            partition: self.partition.clone(),
            suite: suite.id,
            encryption_context: encryption_context.clone(),
            required_keys,
        })
    }
}
