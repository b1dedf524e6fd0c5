//! A remote key service (`envelope::remote_kms`, `--kms aws`,
//! `--kms-endpoint`): the same keyring suite against three endpoints (the
//! embedded core, an `envelope kms serve` process, moto's server), the CLI's
//! choice of key service, and the faults of a service that goes away.
//!
//! Every server listens on 127.0.0.1 on a free port and stops inside its
//! test. moto comes from the Python venv (`scripts/setup-venv.sh`); without
//! it the moto cases say so and pass, except under `CI=true`, where they fail.

mod caching;
mod cli;
mod endpoints;
mod faults;
mod suite;
