#!/usr/bin/env bash
# The project's test command (the README cites it; .ci/run calls it). It sets
# up .venv (the pinned Python ESDK, boto3, the AWS CLI and moto for the live
# interop and server client tests) if needed, then
# runs every check. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s\n' "$*"; }

step "Python virtual environment (.venv) with the pinned aws-encryption-sdk"
bash scripts/setup-venv.sh

if [[ -d ../shared ]]; then
    echo "test.sh: ../shared is present (official test vectors are used)"
else
    echo "test.sh: ../shared is absent: tests that read it say so and skip those cases"
fi

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test --locked"
cargo test --locked

step "cargo build --locked (the envelope binary for the interop test)"
cargo build --locked

step "known-answer set still agrees with the Python ESDK: testdata/generate.py --verify"
.venv/bin/python testdata/generate.py --verify

step "real AWS clients against envelope kms serve: tests/server/clients.py target/debug/envelope"
.venv/bin/python tests/server/clients.py target/debug/envelope

# Last, so that its closing line (interop: N passed, M failed) ends the run.
step "live interop with the Python ESDK: tests/interop/interop.py target/debug/envelope"
.venv/bin/python tests/interop/interop.py target/debug/envelope
