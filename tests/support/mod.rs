//! What every test binary shares: the one copy of each fixture, so that copies
//! cannot drift apart.
//!
//! * [`fixtures`]: keyrings, keys and the options a suite needs;
//! * [`scrub`]: commands with the developer's `ENVELOPE_*` and `AWS_*`
//!   settings removed, built from the library's own variable names;
//! * [`cli`]: a temporary world per CLI test and runners that check exit codes
//!   and clean stderr;
//! * [`kms`]: a KMS core in a temporary store with a clock the test moves;
//! * [`shared`]: the one locator of `../shared` (official vectors), whose
//!   absence is said out loud and fails under `CI=true`.
//!
//! The integration binary (`tests/integration/main.rs`) includes this module
//! with `#[path]`; the binaries that must stay apart (their own global
//! allocator) and the benches include it too. Import paths of the library
//! live here and in the tests, so a change of them touches few places.

pub mod cli;
pub mod fixtures;
pub mod kms;
pub mod scrub;
pub mod shared;
