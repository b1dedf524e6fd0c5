//! `--caching`: the words of aws-encryption-cli's flag of the same name,
//! turned into a data-key cache shared by every file of the run.

use std::time::Duration;

use envelope::stream::cache::{CachePolicy, Caching, DataKeyCache, MAX_BYTES_LIMIT, MAX_MESSAGES_LIMIT};

use super::error::CliError;

/// The `--help` text: what the flag does and what it costs.
pub const HELP: &str = "\
Reuse data keys across the messages of this run (off by default), with aws-encryption-cli's words: \
capacity=N max_age=SECONDS [max_messages_encrypted=N] [max_bytes_encrypted=N]. \
capacity and max_age are required; the limits default to 2^32 messages and 2^63-1 bytes per data key. \
One key-service call then serves many files: a directory of 10,000 files under max_messages_encrypted=1000 \
makes 10 GenerateDataKey calls, not 10,000. \
Trade-off: every message under one cached data key falls with that key, and the key service's log \
and policy no longer see each message. Only inputs of known length (files) with a key-deriving suite \
are cached; stdin and the 0x0014/0x0046/0x0078 suites always get a fresh data key.";

/// Parses the words of `--caching` into caching for one keyring.
pub fn parse(words: &[String]) -> Result<Caching, CliError> {
    let bad = |m: String| CliError::usage(format!("--caching: {m}"));
    let (mut capacity, mut max_age) = (None, None);
    let (mut max_messages, mut max_bytes) = (MAX_MESSAGES_LIMIT, MAX_BYTES_LIMIT);
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(bad(format!("'{w}' is not key=value")));
        };
        let int = |max: u64| -> Result<u64, CliError> {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| bad(format!("{k} must be a whole number from 1 to {max}, not '{v}'")))
        };
        match k {
            "capacity" => capacity = Some(int(usize::MAX as u64)? as usize),
            "max_age" => {
                let secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| bad(format!("max_age must be a number of seconds above 0, not '{v}'")))?;
                max_age = Some(secs);
            }
            "max_messages_encrypted" => max_messages = int(MAX_MESSAGES_LIMIT)?,
            "max_bytes_encrypted" => max_bytes = int(MAX_BYTES_LIMIT)?,
            _ => {
                return Err(bad(format!(
                    "unknown word '{k}' (capacity, max_age, max_messages_encrypted, max_bytes_encrypted)"
                )))
            }
        }
    }
    let capacity = capacity.ok_or_else(|| bad("capacity=N is required".into()))?;
    let max_age = max_age.ok_or_else(|| bad("max_age=SECONDS is required".into()))?;
    let policy = CachePolicy {
        max_age,
        max_messages,
        max_bytes,
    };
    let cache = DataKeyCache::new(capacity).map_err(|e| bad(e.to_string()))?;
    Caching::new(cache, policy).map_err(|e| bad(e.to_string()))
}
