"""KMS-wrapped messages between envelope and the Python ESDK, against moto.

The Python ESDK's KMS master key provider (StrictAwsKmsMasterKeyProvider,
through boto3) and envelope's remote key service (`--kms-endpoint`) share one
moto server, started here on 127.0.0.1 on a free port with dummy
credentials and stopped at the end: a message written by either side under a
moto key opens on the other (strict by ARN, and envelope's discovery too), and
a message under another key is refused.

run(runner) records the cases on interop.py's Runner; without moto (the venv
lacks it) it says so and records a failure under CI=true.
"""

import os
import re
import subprocess
import sys
import threading

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/envelope-interop/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/envelope-interop/credentials",
}


def start_moto():
    """moto's server on 127.0.0.1, a free port; returns (process, url)."""
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "moto.server"]
    env = dict(os.environ, **MOTO_ENV)
    proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", "0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    for raw in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:\d+", raw.decode(errors="replace"))
        if m:
            # Keep draining its log so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(0)
    proc.kill()
    raise RuntimeError("moto_server ended before it said where it listens")


def run(runner, rng):
    try:
        import boto3
        import botocore.session
        import aws_encryption_sdk
        from aws_encryption_sdk import CommitmentPolicy
    except ImportError as e:
        print("moto ABSENT: %s; the KMS interop cases are left out" % e, flush=True)
        if os.environ.get("CI", "").lower() in ("true", "1"):
            runner.record("kms/moto: the Python packages are installed", lambda: (_ for _ in ()).throw(e))
        return
    saved = {k: os.environ.get(k) for k in list(MOTO_ENV) + ["AWS_ENDPOINT_URL_KMS", "AWS_PROFILE"]}
    proc, url = start_moto()
    try:
        os.environ.update(MOTO_ENV)
        os.environ.pop("AWS_PROFILE", None)
        # botocore (and so the ESDK's KMS client) follows the AWS standard variable.
        os.environ["AWS_ENDPOINT_URL_KMS"] = url
        kms = boto3.client("kms", region_name="us-east-1", endpoint_url=url)
        arn = kms.create_key(Description="interop")["KeyMetadata"]["Arn"]
        other = kms.create_key(Description="other")["KeyMetadata"]["Arn"]
        client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        # The non-committing suites (below 0x0400) may only be written under FORBID_ENCRYPT.
        legacy_client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)

        def provider(key):
            return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
                key_ids=[key], botocore_session=botocore.session.Session())

        remote = ["--kms-endpoint", url]

        def python_to_envelope(suite_id):
            def check():
                d = runner.case_dir()
                pt = os.urandom(rng.randint(0, 70000))
                ctx = {"purpose": "kms-interop", "suite": "%04x" % suite_id}
                writer = legacy_client if suite_id < 0x0400 else client
                ct, _ = writer.encrypt(source=pt, key_provider=provider(arn), encryption_context=ctx,
                                       algorithm=aws_encryption_sdk.Algorithm.get_by_id(suite_id),
                                       frame_length=4096)
                path = os.path.join(d, "message")
                with open(path, "wb") as f:
                    f.write(ct)
                for keys in (["-w", "key=" + arn], []):
                    r = runner.run_cli(remote + ["decrypt", "-i", path, "-o", "-", "-c", "purpose=kms-interop",
                                                 "--commitment-policy", "require-encrypt-allow-decrypt"] + keys)
                    if r.returncode != 0:
                        raise AssertionError("envelope decrypt %s exited %d: %s" % (
                            keys, r.returncode, r.stderr.decode(errors="replace")))
                    if r.stdout != pt:
                        raise AssertionError("envelope decrypted other bytes (%s)" % keys)
                # Under another key: refused, exit 4 or 1, the key named.
                r = runner.run_cli(remote + ["decrypt", "-i", path, "-o", "-", "-w", "key=" + other])
                if r.returncode == 0:
                    raise AssertionError("envelope decrypted with a key that does not wrap the message")
            return check

        def envelope_to_python(suite_id):
            def check():
                d = runner.case_dir()
                pt = os.urandom(rng.randint(0, 70000))
                src, dst = os.path.join(d, "pt"), os.path.join(d, "message")
                with open(src, "wb") as f:
                    f.write(pt)
                args = remote + ["encrypt", "-k", arn, "-i", src, "-o", dst, "-c", "purpose=kms-interop",
                                 "--algorithm", "%04x" % suite_id]
                if suite_id < 0x0400:
                    args += ["--commitment-policy", "forbid-encrypt-allow-decrypt"]
                r = runner.run_cli(args)
                if r.returncode != 0:
                    raise AssertionError("envelope encrypt exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
                with open(dst, "rb") as f:
                    ct = f.read()
                got, header = client.decrypt(source=ct, key_provider=provider(arn))
                if got != pt:
                    raise AssertionError("Python decrypted other bytes")
                infos = [k.key_provider.key_info for k in header.encrypted_data_keys]
                if infos != [arn.encode()]:
                    raise AssertionError("the EDK names %r, not the key ARN" % infos)
                if header.encryption_context.get("purpose") != "kms-interop":
                    raise AssertionError("the context did not arrive")
            return check

        for sid in (0x0578, 0x0478, 0x0378, 0x0178):
            runner.record("kms/moto python->envelope suite=0x%04x" % sid, python_to_envelope(sid))
            runner.record("kms/moto envelope->python suite=0x%04x" % sid, envelope_to_python(sid))
    finally:
        proc.kill()
        proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
