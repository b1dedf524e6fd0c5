//! The integration tests, as one test binary with a module per subject (as
//! rustls does): the library and its dependencies are linked once, not once
//! per file. Run one subject with `cargo test --test integration tamper::`.
//!
//! Two test binaries stay apart, because each installs its own global
//! allocator that watches every allocation of the process: `alloc_bounds`
//! (counts live bytes) and `zeroize` (inspects freed blocks).
//!
//! The tests here share one process and run on several threads, so none of
//! them may change process-wide state (environment variables, the current
//! directory, signal handlers, the umask); children get their settings
//! through [`support::scrub`].

#[path = "../support/mod.rs"]
mod support;

mod cli_files;
mod cli_inspect;
mod cli_interrupt;
mod cli_key_files;
mod cli_keystore;
mod cli_migration;
mod cli_pipes;
mod cli_readme;
mod cli_untrusted;
mod cli_usage;
mod crash_safety;
mod entropy;
mod key_hygiene;
mod keyring_vectors;
mod keystore;
mod kms_cli;
mod kms_core;
mod kms_keyring;
#[cfg(feature = "server")]
mod kms_server;
mod known_answers;
mod properties;
mod raw_ecdh;
#[cfg(all(feature = "remote", feature = "server"))]
mod remote_kms;
mod rewrap;
mod support_checks;
mod tamper;
#[cfg(feature = "tokio")]
mod tokio_io;
mod vectors;
