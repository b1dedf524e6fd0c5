#!/bin/bash
# Data-key caching: 5,000 files of 1-5 KB (made in $WORK), encrypt and decrypt, with and
# without --caching, against `envelope kms serve` (calls counted in its -v request log) and
# the embedded core. Needs a release build and farm-bench.
set -e
E=${ENVELOPE:-$(cd "$(dirname "$0")/.." && pwd)/target/release/envelope}
WORK=${WORK:-$(mktemp -d)}; cd "$WORK"
[ -d in ] || python3 -c "import os,random
random.seed(1)
for i in range(5000):
    d=f'in/d{i%10}'; os.makedirs(d,exist_ok=True)
    open(f'{d}/f{i:04}.txt','wb').write(os.urandom(random.randint(1024,5120)))"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing ENVELOPE_HOME=$WORK/home
rm -rf ks ks2 home srv.log; mkdir -p home
KEY=$($E --keystore ks kms create-key | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["Arn"])')
$E --keystore ks -v kms serve --listen 127.0.0.1:0 > srv.url 2> srv.log &
SRV=$!
sleep 2
URL=$(head -1 srv.url)
echo "server $URL key $KEY"
C="--caching capacity=10 max_age=300 max_messages_encrypted=1000"
count() { grep -c "$1" srv.log || true; }
for mode in remote embedded; do
  if [ $mode = remote ]; then G="--kms-endpoint $URL"; K="-k $KEY"; else G="--keystore ks2"; K=""; fi
  for cache in no yes; do
    [ $cache = yes ] && CC="$C" || CC=""
    b=$(count " GenerateDataKey ")
    rm -rf out; $E $G -q encrypt -r -i in -o out $K $CC
    a=$(count " GenerateDataKey ")
    bd=$(count " Decrypt ")
    rm -rf back; $E $G -q decrypt -r -i out -o back $K
    ad=$(count " Decrypt ")
    echo "== $mode cache=$cache: GenerateDataKey calls $((a-b)), Decrypt calls $((ad-bd))"
    farm-bench -n 3 --warmup 1 --timeout 600 -- sh -c "rm -rf out && exec $E $G -q encrypt -r -i in -o out $K $CC" 2>&1 | grep -E "wall|^#|c/" | head -3
    farm-bench -n 3 --warmup 1 --timeout 600 -- sh -c "rm -rf back && exec $E $G -q decrypt -r -i out -o back $K" 2>&1 | grep -E "wall|c/" | head -3
  done
done
kill $SRV
