//! The KMS core as a network service (`envelope kms serve`, `envelope::server`):
//! the official Rust SDK, SigV4 against the official signer, bad input and slow
//! clients, faults, shutdown, seeding and TLS. Servers listen on 127.0.0.1
//! free ports and stop inside each test. (boto3, the AWS CLI and the Python
//! ESDK run against the server in tests/server/clients.py.)

mod bad_input;
mod faults;
mod lifecycle;
mod sdk;
mod signatures;
pub mod support;
