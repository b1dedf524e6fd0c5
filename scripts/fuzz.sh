#!/usr/bin/env bash
# Short cargo-fuzz runs of every fuzz target (fuzz/fuzz_targets), for CI.
# Called from .ci/run only, not from scripts/test.sh, so that the README's
# test command stays fast.
#
#   bash scripts/fuzz.sh            # FUZZ_SECONDS (default 45) per target
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh decrypt
#
# cargo-fuzz needs unstable rustc flags. On a stable toolchain they are
# enabled with RUSTC_BOOTSTRAP=1 (for this build only). The targets are built
# without a sanitizer (-s none): the crate forbids unsafe code, and aws-lc's C
# code is not instrumented either way, so AddressSanitizer would only slow the
# runs down; libFuzzer still catches panics, timeouts and over-allocation
# (-malloc_limit_mb). When cargo-fuzz cannot be installed or the toolchain
# cannot build fuzz targets it prints a SKIPPED line and exits 0, except under
# CI=true, where not fuzzing is a failure (exit 1). Exits non-zero when a
# target finds a crash (the input is saved under fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
CI=${CI:-}

SECONDS_PER_TARGET="${FUZZ_SECONDS:-45}"
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    TARGETS=(header decrypt structured kms_blob context edk_list ecdh_provider_info kms_request)
fi

skip() {
    if [[ ${CI,,} == true || $CI == 1 ]]; then
        echo "fuzz: FAILED: cannot fuzz under CI=true: $*"
        exit 1
    fi
    echo "fuzz: SKIPPED: $*"
    exit 0
}

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked >/tmp/cargo-fuzz-install.log 2>&1 \
        || skip "cargo-fuzz could not be installed (log: /tmp/cargo-fuzz-install.log)"
fi
echo "fuzz: $(cargo fuzz --version)"

if ! rustc --version | grep -q nightly; then
    if ! RUSTC_BOOTSTRAP=1 rustc -Z unstable-options --print sysroot >/dev/null 2>&1; then
        skip "no nightly toolchain, and this rustc does not accept -Z flags with RUSTC_BOOTSTRAP=1"
    fi
    export RUSTC_BOOTSTRAP=1
    echo "fuzz: stable $(rustc --version | cut -d' ' -f2) with RUSTC_BOOTSTRAP=1 for unstable flags"
fi

python3 fuzz/seed.py

cd fuzz
# One build of all targets; a build failure is a real failure, not a skip.
cargo fuzz build -s none

summary=()
for t in "${TARGETS[@]}"; do
    echo
    echo "==== fuzz $t for ${SECONDS_PER_TARGET}s"
    log="target/fuzz-$t.log"
    # The committed, minimized corpus (fuzz/committed/<target>) first: every
    # input once, so a regression it holds fails here before any mutation.
    dirs=("corpus/$t")
    if [[ -d committed/$t ]]; then
        mkdir -p "corpus/$t"
        set +e
        cargo fuzz run -s none "$t" "committed/$t" -- -runs=0 -timeout=10 -rss_limit_mb=2048 \
            -malloc_limit_mb=512 >"target/fuzz-$t-replay.log" 2>&1
        rc=$?
        set -e
        if [[ $rc -ne 0 ]]; then
            grep -E "panicked|ERROR|SUMMARY|Test unit written" "target/fuzz-$t-replay.log" | head -n 20 || true
            echo "fuzz: $t FAILED replaying its committed corpus (exit $rc): log in fuzz/target/fuzz-$t-replay.log"
            exit 1
        fi
        echo "fuzz: $t replayed $(find "committed/$t" -type f | wc -l) committed inputs"
        dirs+=("committed/$t")
    fi
    set +e
    cargo fuzz run -s none "$t" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, features \2, corpus \3/p' <<<"$done_line")
    if [[ $rc -ne 0 ]]; then
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 20 || true
        echo "fuzz: $t FAILED (exit $rc): full log in fuzz/$log"
        exit 1
    fi
    summary+=("$t: ${execs:-?} executions, ${cov:-no stats}")
done

echo
echo "==== fuzz summary (${SECONDS_PER_TARGET}s per target, no crashes)"
printf '  %s\n' "${summary[@]}"
# A plain closing line for CI's reader: every target ran its time without a crash.
echo "fuzz: ${#summary[@]} passed, 0 failed"
