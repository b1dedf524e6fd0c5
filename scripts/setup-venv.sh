#!/usr/bin/env bash
# Creates .venv with the pinned Python packages that the known-answer generator
# (testdata/generate.py), the live interop test (tests/interop/interop.py: the
# ESDK and its Material Providers Library, for raw ECDH), the KMS server's
# client tests (tests/server/clients.py: boto3, the AWS CLI, the ESDK's KMS
# master key provider) and the server benchmark (moto) use.
# Idempotent: does nothing when .venv already holds exactly the pinned set.
set -euo pipefail
cd "$(dirname "$0")/.."

req=tests/interop/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)

if [[ -x .venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]] \
    && .venv/bin/python -c 'import aws_encryption_sdk, aws_cryptographic_material_providers' 2>/dev/null; then
    echo "setup-venv: .venv is up to date ($(.venv/bin/python -c 'import aws_encryption_sdk as m; print("aws-encryption-sdk", m.__version__)'))"
    exit 0
fi

python=${PYTHON:-python3}
echo "setup-venv: creating .venv with $($python --version) and $req"
rm -rf .venv
"$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r "$req"
.venv/bin/python -m pip check
echo "$want" > "$stamp"
echo "setup-venv: done ($(.venv/bin/python -c 'import aws_encryption_sdk as m; print("aws-encryption-sdk", m.__version__)'), with aws-cryptographic-material-providers for raw ECDH)"
