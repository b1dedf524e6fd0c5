#!/usr/bin/env bash
# The project's test command (the README cites it; .ci/run calls it). It sets
# up .venv (the pinned Python ESDK, boto3, the AWS CLI and moto for the live
# interop and server client tests) if needed, then
# runs every check, and ends with a summary: how many tests ran and passed,
# whether ../shared was there, and one closing line, PASSED or FAILED.
#
# One build serves all steps that run code: `cargo test` builds the envelope
# binary that the interop test runs (target/debug/envelope, in the test
# profile), so there is no separate `cargo build` (it would build the crate
# and the dependencies whose features the dev-dependencies change a second
# time). The fuzz targets (their own workspace) are checked in the same
# target directory, so they reuse its dependencies.
set -euo pipefail
CI=${CI:-}
cd "$(dirname "$0")/.."

logs=target/test-sh
shared_state=""
rm -rf "$logs"
mkdir -p "$logs"
current=""
# Each step's header carries the seconds since the script began, so a slow
# run shows where its time went.
step() {
    current="$*"
    printf '\n==== [%ds] %s\n' "$SECONDS" "$*"
}

# The totals of every "test result:" line cargo printed, and how many tests
# ran without ../shared (tests/support/shared.rs prints one line for each).
test_totals() {
    [[ -f $logs/cargo-test.log ]] || return 0
    local passed failed ignored binaries absent
    read -r passed failed ignored binaries < <(awk '
        /^test result:/ {
            for (i = 2; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i-1)
                if ($(i) ~ /^failed;?$/) f += $(i-1)
                if ($(i) ~ /^ignored;?$/) g += $(i-1)
            }
            n++
        }
        END { print p+0, f+0, g+0, n+0 }' "$logs/cargo-test.log")
    echo "cargo test: $passed passed, $failed failed, $ignored ignored (from $binaries test runs: the test binaries and the doc tests)"
    absent=$(grep -c '^shared-dir ABSENT:' "$logs/cargo-test.log" || true)
    if [[ $absent -gt 0 ]]; then
        echo "../shared: $shared_state; $absent tests ran without their official vectors"
    else
        echo "../shared: $shared_state"
    fi
}

finish() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '\n==== summary\n'
        test_totals
        printf 'test.sh: FAILED (exit %d) at: %s\n' "$rc" "$current"
    fi
}
trap finish EXIT

step "Python virtual environment (.venv) with the pinned aws-encryption-sdk"
bash scripts/setup-venv.sh

# Where the tests look for ../shared (tests/support/shared.rs decides the same way).
shared=${ENVELOPE_SHARED_DIR:-../shared}
if [[ -d $shared ]]; then
    shared_state="present at $shared (official vectors are used)"
elif [[ ${CI,,} == true || ${CI:-} == 1 ]]; then
    shared_state="ABSENT at $shared, and CI=true: the vector tests will fail"
else
    shared_state="ABSENT at $shared: the vector tests say so and pass without it"
fi
echo "test.sh: ../shared is $shared_state"

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

# With the examples in, cargo resolves the dev-dependencies' features as
# clippy --all-targets did, so the dependencies it checked are reused (without
# them, 41 crates were checked a second time with other features).
step "cargo doc --no-deps --locked --lib --bins --examples (RUSTDOCFLAGS=-D warnings: no broken or private links)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --lib --bins --examples

# .ci/run builds and runs every fuzz target right after this script
# (scripts/fuzz.sh), so it skips this check rather than compile them twice.
if [[ ${ENVELOPE_SKIP_FUZZ_CHECK:-} == 1 ]]; then
    fuzz_state="not checked here (ENVELOPE_SKIP_FUZZ_CHECK=1: scripts/fuzz.sh builds them next)"
else
    step "fuzz targets compile: cargo check --manifest-path fuzz/Cargo.toml --locked"
    if ! CARGO_TARGET_DIR=target cargo check --manifest-path fuzz/Cargo.toml --locked; then
        echo "test.sh: the fuzz targets do not build; if fuzz/Cargo.lock is out of date (a new"
        echo "dependency of the crate), refresh it with: cargo update --manifest-path fuzz/Cargo.toml --workspace"
        exit 1
    fi
    fuzz_state="compile"
fi

step "cargo test --locked --no-fail-fast"
cargo test --locked --no-fail-fast 2>&1 | tee "$logs/cargo-test.log"

step "known-answer set still agrees with the Python ESDK: testdata/generate.py --verify"
.venv/bin/python testdata/generate.py --verify

step "real AWS clients against envelope kms serve: tests/server/clients.py target/debug/envelope"
.venv/bin/python tests/server/clients.py target/debug/envelope 2>&1 | tee "$logs/clients.log"

step "live interop with the Python ESDK: tests/interop/interop.py target/debug/envelope (built by cargo test)"
.venv/bin/python tests/interop/interop.py target/debug/envelope 2>&1 | tee "$logs/interop.log"

step "summary"
test_totals
echo "fuzz targets: $fuzz_state"
grep '^server-clients: .* passed' "$logs/clients.log" | tail -n 1 || true
grep '^interop: .* passed' "$logs/interop.log" | tail -n 1
echo "test.sh: PASSED in ${SECONDS}s"
