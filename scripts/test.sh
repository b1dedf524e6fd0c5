#!/usr/bin/env bash
# The project's test command (the README cites it; .ci/run calls it). It sets
# up .venv (the pinned Python ESDK for the live interop test) if needed, then
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

step "cargo doc --no-deps --locked (RUSTDOCFLAGS=-D warnings: no broken or private links)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked

step "cargo test --locked"
cargo test --locked

step "cargo build --locked (the envelope binary for the interop test)"
cargo build --locked

step "known-answer set still agrees with the Python ESDK: testdata/generate.py --verify"
.venv/bin/python testdata/generate.py --verify

# Last, so that its closing line (interop: N passed, M failed) ends the run.
step "live interop with the Python ESDK: tests/interop/interop.py target/debug/envelope"
.venv/bin/python tests/interop/interop.py target/debug/envelope
