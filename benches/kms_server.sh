#!/usr/bin/env bash
# Benchmarks `envelope kms serve` against moto's server (`moto_server`, from
# .venv, installed by scripts/setup-venv.sh) with the same load generator
# (benches/kms_load.rs), in one run. Run by hand, not in CI:
#
#     bash benches/kms_server.sh [SECONDS] [CONNECTIONS...]   # defaults: 5, 1 16 64
#
# Both servers listen on 127.0.0.1 free ports with fresh, empty state; the
# envelope server is the release build without SigV4 (moto checks none
# either) and without the request log. For each server and connection count
# the generator reports GenerateDataKey and Decrypt requests/s, p50 and p99
# latency and errors; the load generator runs on the same machine (one
# thread), so it takes CPU from the server under test, as a client on the same
# host would. Environment: WORKDIR (default target/kms-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-5}
shift || true
conns=("$@")
[[ ${#conns[@]} -gt 0 ]] || conns=(1 16 64)
work=${WORKDIR:-target/kms-bench}

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bash scripts/setup-venv.sh >/dev/null
cargo build --release --locked --quiet
cargo bench --locked --bench kms_load --no-run --quiet 2>/dev/null
load() { cargo bench --locked --quiet --bench kms_load -- "$@"; }

rm -rf "$work" && mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "kms-server bench: $(nproc) cores; $seconds s per run after a 1 s warm-up; connections: ${conns[*]}"

port=$(free_port)
env -u ENVELOPE_HOME -u ENVELOPE_PASSPHRASE target/release/envelope --keystore "$work/store" -q \
    kms serve --listen "127.0.0.1:$port" > "$work/envelope.url" &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/envelope.url ]] && break; sleep 0.1; done
echo
echo "== envelope kms serve ($(target/release/envelope --version))"
load "$(cat "$work/envelope.url")" "$seconds" "${conns[@]}" | tee "$work/envelope.txt"

mport=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$mport" > "$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', $mport), 0.2)" 2>/dev/null && break
    sleep 0.2
done
echo
echo "== moto_server ($(.venv/bin/python -c 'import moto; print("moto", moto.__version__)'))"
load "http://127.0.0.1:$mport" "$seconds" "${conns[@]}" | tee "$work/moto.txt"

echo
.venv/bin/python - "$work/envelope.txt" "$work/moto.txt" <<'PY'
import re, sys
def rows(path):
    out = {}
    for line in open(path):
        m = dict(re.findall(r"(\w+)=([\d.na]+)", line))
        out[(line.split()[0], int(m["conns"]))] = m
    return out
env, moto = rows(sys.argv[1]), rows(sys.argv[2])
print("| operation | conns | envelope req/s | p50 ms | p99 ms | errors | moto req/s | p50 ms | p99 ms | errors | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for key in env:
    e, m = env[key], moto.get(key, {})
    er, mr = float(e["s"]), float(m.get("s", "nan"))
    print("| %s | %d | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %.1fx |" % (
        key[0], key[1], er, e["p50_ms"], e["p99_ms"], e["errors"], mr, m.get("p50_ms"), m.get("p99_ms"),
        m.get("errors"), er / mr if mr else float("nan")))
g = env.get(("GenerateDataKey", 16)); gm = moto.get(("GenerateDataKey", 16))
if g and gm:
    ok = float(g["s"]) >= 10000 and float(g["p99_ms"]) < 5 and float(g["s"]) >= 20 * float(gm["s"]) \
        and all(r["errors"] == "0" for r in env.values())
    print("\ngoal (GenerateDataKey at 16 connections >= 10000/s, p99 < 5 ms, >= 20x moto, no errors): %s"
          % ("met" if ok else "NOT met"))
PY
