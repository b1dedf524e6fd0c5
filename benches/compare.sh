#!/usr/bin/env bash
# Measures the envelope CLI against the Python ESDK and against the floors the
# machine sets (cat, cp, sha384sum), and checks the targets of issue 5. Run by
# hand, not in CI:
#
#     bash benches/compare.sh [SIZE]        # SIZE: bytes, or with K/M/G; default 1G
#
# It builds envelope (cargo build --release), makes a random input of SIZE
# bytes and a random AES-256 key, and times, ROUNDS rounds each (medians
# reported): envelope encrypt and decrypt with suites 0x0478 and 0x0578, frame
# length 64 KiB, a raw AES keyring, from the file to /dev/null, from file to
# file, and from stdin to stdout (through pipes: cat FILE | envelope | cat);
# rewrap file to file to a new raw AES key, against `decrypt | encrypt`;
# the Python ESDK's streaming API with the same suite, frame length and key
# (installed in .venv by scripts/setup-venv.sh), file to /dev/null; and
# `cat FILE > /dev/null`, `cp FILE COPY` and `sha384sum FILE`. Peak RSS comes
# from /usr/bin/time -v. Before timing it checks that each side decrypts the
# other's 0x0478 and 0x0578 messages back to the input.
#
# Then the small work of issue 15: one 2 KB file per process (raw AES key and
# the KMS core's default key, in a scratch ENVELOPE_HOME) against rage, which
# it installs with `cargo install rage` into target/rage-root unless `rage`
# is on PATH or already there (or says plainly that its rows are skipped), and `encrypt -r` /
# `decrypt -r` of SMALL_FILES (5000) files of 1-5 KB against `cp -r && sync`.
# SMALL=0 skips this part; LARGE=0 skips the large-input part.
#
# Environment: ROUNDS (default 3), PY_ROUNDS (Python rounds, default ROUNDS;
# 0 skips Python), THREADS (envelope --threads; default: its own default,
# the available cores), WORKDIR (default target/compare; needs about 6x SIZE
# of disk), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

size_arg=${1:-1G}
rounds=${ROUNDS:-3}
py_rounds=${PY_ROUNDS:-$rounds}
work=${WORKDIR:-target/compare}
frame=65536
suites=(0478 0578)

size=$(numfmt --from=iec "$size_arg")
(( size > 0 )) || { echo "compare: SIZE must be positive" >&2; exit 2; }

if [[ ! -x /usr/bin/time ]]; then
    echo "compare: installing GNU time for peak RSS (apt-get install -y time)"
    apt-get install -y -qq time >/dev/null
fi

echo "compare: building envelope (cargo build --release)"
cargo build --release --quiet
envelope=$PWD/target/release/envelope
if (( py_rounds > 0 )); then
    bash scripts/setup-venv.sh
fi
python=$PWD/.venv/bin/python
esdk_stream=$PWD/benches/esdk_stream.py

mkdir -p "$work"
work=$(cd "$work" && pwd)
repo=$PWD
cleanup() { [[ ${KEEP:-} == 1 ]] || rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
in=$work/input.bin
echo "compare: making a random input of $(numfmt --to=iec "$size") in $work"
head -c "$size" /dev/urandom > "$in"
head -c 32 /dev/urandom > key.bin && chmod 600 key.bin
head -c 32 /dev/urandom > key2.bin && chmod 600 key2.bin
keyargs=(-w provider=raw-aes key="$work/key.bin" namespace=compare name=aes-256)
# The rewrap rows open with key.bin and seal with key2.bin.
unwrapargs=(-u provider=raw-aes key="$work/key.bin" namespace=compare name=aes-256)
newkeyargs=(-w provider=raw-aes key="$work/key2.bin" namespace=compare name=aes-256-new)
pyargs=(--key "$work/key.bin" --namespace compare --name aes-256 --frame-length "$frame")
threads=()
[[ -n ${THREADS:-} ]] && threads=(--threads "$THREADS")

# Reference messages for the decrypt runs, and the interop check.
for s in "${suites[@]}"; do
    "$envelope" encrypt "${keyargs[@]}" "${threads[@]}" --algorithm "$s" --frame-length "$frame" \
        -i "$in" -o "env.$s"
    "$envelope" decrypt "${keyargs[@]}" "${threads[@]}" -i "env.$s" -o check.bin
    cmp -s check.bin "$in" || { echo "compare: envelope did not decrypt its own 0x$s message" >&2; exit 1; }
    rm -f check.bin
    if (( py_rounds > 0 )); then
        "$python" "$esdk_stream" decrypt "${pyargs[@]}" "env.$s" check.bin
        cmp -s check.bin "$in" || { echo "compare: Python did not decrypt envelope's 0x$s message" >&2; exit 1; }
        rm -f check.bin
        "$python" "$esdk_stream" encrypt "${pyargs[@]}" --suite "0x$s" "$in" "py.$s"
        "$envelope" decrypt "${keyargs[@]}" "${threads[@]}" -i "py.$s" -o check.bin
        cmp -s check.bin "$in" || { echo "compare: envelope did not decrypt Python's 0x$s message" >&2; exit 1; }
        rm -f check.bin "py.$s"
    fi
done
echo "compare: interop checked (each side decrypts the other's 0x0478 and 0x0578 messages)"
cat "$in" > /dev/null  # warm the page cache

declare -A wall rss
names=()

# measure NAME ROUNDS COMMAND: runs COMMAND (a bash -c string) ROUNDS times,
# removing the outputs before each round and flushing dirty pages after it
# (both untimed); keeps the median wall time and the largest peak RSS.
measure() {
    local name=$1 n=$2 cmd=$3 times=() peak=0 t0 t1 r
    (( n > 0 )) || return 0
    for ((i = 0; i < n; i++)); do
        rm -f out.bin copy.bin
        # Trees are set aside, not deleted: ext4 skips recently deleted inodes
        # when it allocates new ones, so creating thousands of files right
        # after deleting thousands slows down more with every round.
        for t in tree.out tree.copy; do
            if [[ -e $t ]]; then mkdir -p trash && mv "$t" "trash/$t.$i.$RANDOM"; fi
        done
        t0=$EPOCHREALTIME
        /usr/bin/time -v -o time.txt bash -c "$cmd"
        t1=$EPOCHREALTIME
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
        r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' time.txt)
        (( r > peak )) && peak=$r
        sync
    done
    wall[$name]=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    rss[$name]=$peak
    names+=("$name")
    printf '  %-44s %8.3f s  (rounds: %s)\n' "$name" "${wall[$name]}" "${times[*]}"
}

e="$envelope"
k="${keyargs[*]} ${threads[*]}"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "compare: timing ($rounds rounds, Python $py_rounds; load average $load_before)"
large=${LARGE:-1}
(( large )) || rounds_large=0
rounds_large=${rounds_large:-$rounds}
measure "cat FILE > /dev/null" "$rounds_large" "cat $in > /dev/null"
measure "cp FILE COPY" "$rounds_large" "cp $in copy.bin"
measure "cp FILE COPY && sync COPY" "$rounds_large" "cp $in copy.bin && sync copy.bin"
measure "sha384sum FILE" "$rounds_large" "sha384sum $in > /dev/null"
# A signed rewrap hashes two messages (the old one to verify, the new one to
# sign): its floor is two SHA-384 hashes running at once.
measure "sha384sum FILE & sha384sum MESSAGE" "$rounds_large" \
    "sha384sum $in > /dev/null & sha384sum env.0578 > /dev/null; wait"
for s in "${suites[@]}"; do
    enc="$e encrypt $k --algorithm $s --frame-length $frame"
    dec="$e decrypt $k"
    measure "envelope $s encrypt file -> /dev/null" "$rounds_large" "$enc -i $in -o - > /dev/null"
    measure "envelope $s decrypt file -> /dev/null" "$rounds_large" "$dec -i env.$s -o - > /dev/null"
    measure "envelope $s encrypt file -> file" "$rounds_large" "$enc -i $in -o out.bin"
    measure "envelope $s decrypt file -> file" "$rounds_large" "$dec -i env.$s -o out.bin"
    measure "envelope $s encrypt stdin -> stdout" "$rounds_large" "cat $in | $enc | cat > /dev/null"
    measure "envelope $s decrypt stdin -> stdout" "$rounds_large" "cat env.$s | $dec | cat > /dev/null"
    # Rewrap (issue 14): one verified pass file to file, against the same
    # work through a pipe (decrypt | encrypt) and against encrypt alone.
    measure "envelope $s rewrap file -> /dev/null" "$rounds_large" \
        "$e rewrap ${unwrapargs[*]} ${newkeyargs[*]} ${threads[*]} -i env.$s -o - > /dev/null"
    measure "envelope $s rewrap file -> file" "$rounds_large" \
        "$e rewrap ${unwrapargs[*]} ${newkeyargs[*]} ${threads[*]} -i env.$s -o out.bin"
    measure "envelope $s decrypt | encrypt file -> file" "$rounds_large" \
        "$dec -i env.$s -o - | $e encrypt ${newkeyargs[*]} ${threads[*]} --algorithm $s --frame-length $frame -o out.bin"
    measure "python $s encrypt file -> /dev/null" "$(( large ? py_rounds : 0 ))" \
        "$python $esdk_stream encrypt ${pyargs[*]} --suite 0x$s $in /dev/null"
    measure "python $s decrypt file -> /dev/null" "$(( large ? py_rounds : 0 ))" \
        "$python $esdk_stream decrypt ${pyargs[*]} env.$s /dev/null"
done

# Small work (issue 15): whole processes on one small file, side by side with
# rage (age's Rust CLI), and a tree of many small files against cp -r && sync.
# A small file's run is a few milliseconds, so each timed command runs it
# SMALL_LOOP times in a loop (the loop's fork/exec is the same for both sides)
# and the table shows the time of one.
small_loop=${SMALL_LOOP:-50}
if [[ ${SMALL:-1} != 0 ]]; then
    head -c 2048 /dev/urandom > small.bin
    rage_root=$repo/target/rage-root
    rage=$(command -v rage || true)
    [[ -z $rage && -x $rage_root/bin/rage ]] && rage=$rage_root/bin/rage
    if [[ -z $rage ]]; then
        echo "compare: installing rage for the small-file yardstick (cargo install --locked rage, into target/rage-root)"
        if cargo install --locked --quiet rage --root "$rage_root" >/dev/null 2>rage-install.log; then
            rage=$rage_root/bin/rage
        else
            echo "compare: rage could not be installed (see $work/rage-install.log): its rows are SKIPPED"
        fi
    fi
    export ENVELOPE_HOME=$work/home
    "$e" -q encrypt -i small.bin -o small.kms  # creates the key store and default key, untimed
    "$e" encrypt $k -i small.bin -o small.raw
    loop() { echo "for i in \$(seq $small_loop); do $1; done"; }
    measure "small: envelope encrypt, raw AES key" "$rounds" "$(loop "$e encrypt $k -i small.bin -o s.out -f")"
    measure "small: envelope decrypt, raw AES key" "$rounds" "$(loop "$e decrypt $k -i small.raw -o s.out -f")"
    measure "small: envelope encrypt, KMS-core key" "$rounds" "$(loop "$e encrypt -i small.bin -o s.out -f")"
    measure "small: envelope decrypt, KMS-core key" "$rounds" "$(loop "$e decrypt -i small.kms -o s.out -f")"
    if [[ -n $rage ]]; then
        "$(dirname "$rage")/rage-keygen" -o age.key 2>/dev/null
        recipient=$(awk '/public key:/ { print $NF }' age.key)
        "$rage" -r "$recipient" -o small.age small.bin
        measure "small: rage encrypt, X25519 recipient" "$rounds" "$(loop "rm -f s.out; $rage -r $recipient -o s.out small.bin")"
        measure "small: rage decrypt, X25519 identity" "$rounds" "$(loop "rm -f s.out; $rage -d -i age.key -o s.out small.age")"
    fi
    # The tree: SMALL_FILES files of 1-5 KB in 50 directories, the KMS core's default key.
    small_files=${SMALL_FILES:-5000}
    python3 - "$small_files" <<'PY'
import os, random, sys
n = int(sys.argv[1])
rng = random.Random(15)
for i in range(n):
    d = f"tree/d{i % 50:02}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:06}", "wb") as f:
        f.write(os.urandom(rng.randint(1024, 5 * 1024)))
PY
    "$e" -q encrypt -r -i tree -o tree.enc
    sync
    measure "tree: cp -r && sync" "$rounds" "cp -r tree tree.copy && sync"
    measure "tree: envelope encrypt -r, KMS-core key" "$rounds" "$e -q encrypt -r -i tree -o tree.out"
    measure "tree: envelope decrypt -r, KMS-core key" "$rounds" "$e -q decrypt -r -i tree.enc -o tree.out"
    "$e" -q encrypt -r --algorithm 0478 -i tree -o tree.enc0478
    measure "tree: envelope encrypt -r 0x0478, KMS-core key" "$rounds" \
        "$e -q encrypt -r --algorithm 0478 -i tree -o tree.out"
    measure "tree: envelope decrypt -r 0x0478, KMS-core key" "$rounds" "$e -q decrypt -r -i tree.enc0478 -o tree.out"
    rm -rf trash
    unset ENVELOPE_HOME
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo
echo "## envelope vs the Python ESDK and the floors"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(lscpu | awk -F': +' '/Model name/ { print $2; exit }')," \
    "$(free -g | awk '/Mem:/ { print $2 }') GiB RAM), Linux $(uname -r);" \
    "envelope $(git -C "$OLDPWD" rev-parse --short HEAD 2>/dev/null || echo '?'), threads ${THREADS:-default ($(nproc))};" \
    "input $(numfmt --to=iec "$size") random, frame length $frame, raw AES-256 key;" \
    "$rounds rounds (Python $py_rounds), medians; load average $load_before before, $load_after after."
echo
printf '| %-44s | %9s | %10s | %13s |\n' "run" "wall (s)" "MiB/s" "peak RSS (MiB)"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "-----------" "------------" "----------------"
for n in "${names[@]}"; do
    [[ $n == small:* || $n == tree:* ]] && continue
    printf '| %-44s | %9.3f | %10.1f | %13s |\n' "$n" "${wall[$n]}" \
        "$(awk -v s="$size" -v t="${wall[$n]}" 'BEGIN { print s / 1048576 / t }')" "$(mib $((rss[$n] * 1024)))"
done
if [[ -n ${wall["tree: cp -r && sync"]:-} ]]; then
    echo
    echo "Small work: one 2 KB file per process (the time of one run, from loops of $small_loop), and a tree"
    echo "of ${small_files} files of 1-5 KB in 50 directories; medians of $rounds rounds."
    echo
    printf '| %-44s | %12s | %13s |\n' "run" "wall" "peak RSS (MiB)"
    printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "--------------" "----------------"
    for n in "${names[@]}"; do
        if [[ $n == small:* ]]; then
            printf '| %-44s | %9.2f ms | %13s |\n' "$n" \
                "$(awk -v t="${wall[$n]}" -v l="$small_loop" 'BEGIN { print t / l * 1000 }')" "$(mib $((rss[$n] * 1024)))"
        elif [[ $n == tree:* ]]; then
            printf '| %-44s | %10.3f s | %13s |\n' "$n" "${wall[$n]}" "$(mib $((rss[$n] * 1024)))"
        fi
    done
fi

# Targets of issue 5.
echo
echo "## Targets"
echo
verdict() { awk -v r="$1" -v lim="$2" -v op="$3" 'BEGIN { ok = (op == "<=") ? r <= lim : r >= lim; printf "%s", ok ? "met" : "MISSED" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
target() {  # LABEL VALUE OP LIMIT UNIT
    printf '| %-62s | %10s | %10s | %-6s |\n' "$1" "$2$5" "$3 $4$5" "$(verdict "$2" "$4" "$3")"
}
printf '| %-62s | %10s | %10s | %-6s |\n' "target" "measured" "target" "result"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..64})" "------------" "------------" "--------"
if (( large )); then
for op in encrypt decrypt; do
    n="envelope 0478 $op file -> /dev/null"
    if [[ -n ${wall["python 0478 $op file -> /dev/null"]:-} ]]; then
        target "0x0478 $op file -> /dev/null, throughput vs Python" \
            "$(ratio "${wall["python 0478 $op file -> /dev/null"]}" "${wall[$n]}")" ">=" 25 x
    fi
    target "0x0478 $op file -> /dev/null, wall vs cat FILE > /dev/null" \
        "$(ratio "${wall[$n]}" "${wall["cat FILE > /dev/null"]}")" "<=" 2.5 x
done
for op in encrypt decrypt; do
    target "0x0578 $op file -> /dev/null, wall vs sha384sum FILE" \
        "$(ratio "${wall["envelope 0578 $op file -> /dev/null"]}" "${wall["sha384sum FILE"]}")" "<=" 1.15 x
done
for op in encrypt decrypt; do
    target "0x0478 $op file -> file, wall vs cp FILE COPY" \
        "$(ratio "${wall["envelope 0478 $op file -> file"]}" "${wall["cp FILE COPY"]}")" "<=" 1.3 x
done
for op in encrypt decrypt; do
    target "0x0478 $op file -> /dev/null, wall vs cat FILE > /dev/null (issue 15)" \
        "$(ratio "${wall["envelope 0478 $op file -> /dev/null"]}" "${wall["cat FILE > /dev/null"]}")" "<=" 1.5 x
done
target "0x0478 rewrap file -> file, wall vs encrypt alone (issue 14)" \
    "$(ratio "${wall["envelope 0478 rewrap file -> file"]}" "${wall["envelope 0478 encrypt file -> file"]}")" "<=" 1.2 x
# The hashes are the floor of the CPU work: compared, like the encrypt rows
# above, without the output's disk write and sync.
target "0x0578 rewrap file -> /dev/null, wall vs two SHA-384 hashes at once (issue 14)" \
    "$(ratio "${wall["envelope 0578 rewrap file -> /dev/null"]}" "${wall["sha384sum FILE & sha384sum MESSAGE"]}")" "<=" 1.2 x
fi
for op in encrypt decrypt; do
    if [[ -n ${wall["small: rage $op, X25519 recipient"]:-}${wall["small: rage $op, X25519 identity"]:-} ]]; then
        r=${wall["small: rage $op, X25519 recipient"]:-${wall["small: rage $op, X25519 identity"]:-}}
        for key in "raw AES key" "KMS-core key"; do
            target "small file $op, $key, whole process vs rage" \
                "$(ratio "${wall["small: envelope $op, $key"]}" "$r")" "<=" 2 x
        done
    fi
done
if [[ -n ${wall["tree: cp -r && sync"]:-} ]]; then
    for op in encrypt decrypt; do
        target "$op -r of $small_files small files vs cp -r && sync" \
            "$(ratio "${wall["tree: envelope $op -r, KMS-core key"]}" "${wall["tree: cp -r && sync"]}")" "<=" 1.5 x
        target "$op -r of $small_files small files, suite 0x0478, vs cp -r && sync" \
            "$(ratio "${wall["tree: envelope $op -r 0x0478, KMS-core key"]}" "${wall["tree: cp -r && sync"]}")" "<=" 1.5 x
    done
fi
peak=0
for n in "${names[@]}"; do
    [[ $n == envelope* || $n == *": envelope "* ]] && (( rss[$n] > peak )) && peak=${rss[$n]}
done
target "peak RSS of envelope, every run above" "$(mib $((peak * 1024)))" "<=" 64 " MiB"
echo
if [[ -n ${wall["python 0478 encrypt file -> /dev/null"]:-} ]]; then
    echo "For scale: cat FILE > /dev/null runs at" \
        "$(ratio "${wall["python 0478 encrypt file -> /dev/null"]}" "${wall["cat FILE > /dev/null"]}")x (encrypt) and" \
        "$(ratio "${wall["python 0478 decrypt file -> /dev/null"]}" "${wall["cat FILE > /dev/null"]}")x (decrypt)" \
        "the Python ESDK's 0x0478 throughput here."
fi
echo "envelope's file outputs are synced to disk before they are renamed into place;"
echo "'cp FILE COPY && sync COPY' is the comparable floor for that."
