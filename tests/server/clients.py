#!/usr/bin/env python3
"""Real AWS clients against `envelope kms serve`.

    python tests/server/clients.py path/to/envelope

Starts the server on 127.0.0.1 (a free port) over a fresh key store, then:

* boto3 and the AWS CLI v1 (`aws --endpoint-url ... kms ...`) each run the same
  scenario: create-key, create-alias, describe-key by alias, encrypt/decrypt of
  1 and 4096 bytes with and without an encryption context, 4097 bytes
  (ValidationException), a wrong context (InvalidCiphertextException),
  generate-data-key (its blob decrypts to its plaintext), re-encrypt to another
  key and context, rotate-key-on-demand (the older ciphertext still decrypts),
  disable-key (DisabledException) and enable-key, schedule-key-deletion
  (KMSInvalidStateException, then cancel-key-deletion leaves it Disabled), and
  the errors for an unknown key and an ARN of another region (NotFoundException).
  Each error is checked by the exact code the client reports.
* The Python ESDK's KMS master key provider, pointed at the server through
  AWS_ENDPOINT_URL_KMS (botocore's service-specific endpoint setting), encrypts
  under a key created through the server, and envelope decrypts the message
  with its embedded KMS core on the same key store; envelope encrypts under its
  default key (created on first use) and the Python ESDK decrypts through the
  server. Every suite the Python ESDK has (the non-committing ones under the
  forbid/allow policies), several sizes, with an encryption context.
* `envelope rewrap` between the KMS core and a raw AES key, both ways, every
  suite: the Python ESDK writes the old message (KMS provider through the
  server, or a raw AES master key) and opens the new one with the new key only;
  suite, frame length and context carry over, the message id is new, and the
  old key no longer opens it.

The server is stopped with SIGTERM at the end and must exit 0 after closing the
store. Ends with `server-clients: N passed, M failed`; exits non-zero on any
failure.
"""

import base64
import contextlib
import io
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config
import botocore.exceptions

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import esdk_py  # noqa: E402  (the interop test's raw master keys)

REGION = "us-east-1"
ACCOUNT = "111122223333"
SUITES = sorted(Algorithm, key=lambda a: a.algorithm_id)
COMMITTING = {0x0478, 0x0578}
SIZES = [0, 1, 4095, 4096, 4097, 65536, 300001]


class Server:
    """`envelope kms serve` on a free loopback port, for the duration of a `with`."""

    def __init__(self, envelope, keystore):
        self.envelope, self.keystore = envelope, keystore

    def __enter__(self):
        self.stderr = open(os.path.join(self.keystore + ".server.log"), "w+b")
        self.proc = subprocess.Popen(
            [self.envelope, "--keystore", self.keystore, "-v", "kms", "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError("the server printed %r instead of its URL" % line)
        self.url = line
        return self

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, title, fn):
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001  (every failure is reported, then counted)
            self.failed += 1
            print("FAIL %s: %s: %s" % (title, type(e).__name__, e), flush=True)
            return
        self.passed += 1
        print("ok   %s (%.2fs)" % (title, time.monotonic() - start), flush=True)


class ClientError(Exception):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code


class Boto:
    """The scenario's operations through boto3."""

    name = "boto3"

    def __init__(self, url):
        self.kms = boto3.client(
            "kms", endpoint_url=url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def call(self, op, **params):
        try:
            r = getattr(self.kms, op)(**params)
        except botocore.exceptions.ClientError as e:
            raise ClientError(e.response["Error"]["Code"], e.response["Error"]["Message"]) from None
        r.pop("ResponseMetadata", None)
        return r


class Cli:
    """The scenario's operations through the AWS CLI v1, blobs through fileb:// files.

    The first call runs the `aws` executable; the others call the same entry
    point (awscli.clidriver) in this process, which spares a second of start-up
    per call and runs the same code.
    """

    name = "aws-cli"

    def __init__(self, url, workdir, env):
        self.url, self.dir, self.env = url, workdir, env
        self.aws = os.path.join(os.path.dirname(sys.executable), "aws")
        self.n = 0
        self.subprocess_done = False

    def _run(self, args):
        if not self.subprocess_done:
            self.subprocess_done = True
            r = subprocess.run([self.aws] + args, env=self.env, capture_output=True, timeout=120)
            return r.returncode, r.stdout, r.stderr
        import awscli.clidriver
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = awscli.clidriver.create_clidriver().main(args)
        return rc, out.getvalue().encode(), err.getvalue().encode()

    def _file(self, data):
        self.n += 1
        path = os.path.join(self.dir, "blob-%d" % self.n)
        with open(path, "wb") as f:
            f.write(data)
        return "fileb://" + path

    def call(self, op, **params):
        args = ["--endpoint-url", self.url, "--region", REGION, "--output", "json", "kms",
                "".join("-" + c.lower() if c.isupper() else c for c in op).lstrip("-").replace("_", "-")]
        for k, v in params.items():
            flag = "--" + "".join("-" + c.lower() if c.isupper() else c for c in k).lstrip("-")
            if isinstance(v, bytes):
                args += [flag, self._file(v)]
            elif isinstance(v, dict):
                args += [flag, json.dumps(v)]
            else:
                args += [flag, str(v)]
        rc, stdout, stderr = self._run(args)
        if rc != 0:
            err = stderr.decode(errors="replace")
            # "An error occurred (NotFoundException) when calling the DescribeKey operation: ..."
            if "An error occurred (" in err:
                code = err.split("An error occurred (", 1)[1].split(")", 1)[0]
                raise ClientError(code, err.strip())
            raise RuntimeError("aws exited %d: %s" % (rc, err.strip()))
        out = json.loads(stdout) if stdout.strip() else {}
        for blob in ("CiphertextBlob", "Plaintext"):
            if blob in out:
                out[blob] = base64.b64decode(out[blob])
        return out


def method(op):
    """CreateKey -> create_key."""
    return "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_")


def expect_error(client, code, op, **params):
    try:
        client.call(op, **params)
    except ClientError as e:
        if e.code != code:
            raise AssertionError("%s: expected %s, got %s" % (op, code, e)) from None
        return
    raise AssertionError("%s succeeded; expected %s" % (op, code))


def scenario(client, results, tag):
    """The lifecycle every client must get through; each step is one check."""
    c = lambda op, **p: client.call(method(op), **p)  # noqa: E731
    state = {}

    def create():
        meta = c("CreateKey", Description="%s test key" % client.name)["KeyMetadata"]
        assert meta["KeyState"] == "Enabled" and meta["KeySpec"] == "SYMMETRIC_DEFAULT", meta
        assert meta["Arn"] == "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, meta["KeyId"]), meta["Arn"]
        state["key"], state["arn"] = meta["KeyId"], meta["Arn"]
        state["other"] = c("CreateKey")["KeyMetadata"]["Arn"]

    def alias():
        state["alias"] = "alias/%s-%s" % (client.name, tag)
        c("CreateAlias", AliasName=state["alias"], TargetKeyId=state["key"])
        assert c("DescribeKey", KeyId=state["alias"])["KeyMetadata"]["KeyId"] == state["key"]
        expect_error(client, "AlreadyExistsException", "create_alias", AliasName=state["alias"], TargetKeyId=state["key"])

    def round_trips():
        for size, ctx in ((4096, {}), (4096, {"purpose": "test", "client": client.name}), (1, {"k": ""})):
            pt = os.urandom(size)
            extra = {"EncryptionContext": ctx} if ctx else {}
            r = c("Encrypt", KeyId=state["alias"], Plaintext=pt, **extra)
            assert r["KeyId"] == state["arn"], r["KeyId"]
            d = c("Decrypt", CiphertextBlob=r["CiphertextBlob"], **extra)
            assert d["Plaintext"] == pt and d["KeyId"] == state["arn"]
            if len(ctx) > 1:
                expect_error(client, "InvalidCiphertextException", "decrypt", CiphertextBlob=r["CiphertextBlob"])
                expect_error(client, "InvalidCiphertextException", "decrypt", CiphertextBlob=r["CiphertextBlob"],
                             EncryptionContext={"purpose": "other", "client": client.name})
        expect_error(client, "ValidationException", "encrypt", KeyId=state["key"], Plaintext=os.urandom(4097))

    def data_key():
        r = c("GenerateDataKey", KeyId=state["arn"], KeySpec="AES_256", EncryptionContext={"k": "v"})
        assert len(r["Plaintext"]) == 32
        d = c("Decrypt", CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"k": "v"}, KeyId=state["key"])
        assert d["Plaintext"] == r["Plaintext"]
        expect_error(client, "IncorrectKeyException", "decrypt", CiphertextBlob=r["CiphertextBlob"],
                     EncryptionContext={"k": "v"}, KeyId=state["other"])

    def re_encrypt():
        pt = os.urandom(100)
        blob = c("Encrypt", KeyId=state["key"], Plaintext=pt, EncryptionContext={"a": "1"})["CiphertextBlob"]
        r = c("ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
              DestinationKeyId=state["other"], DestinationEncryptionContext={"b": "2"})
        assert r["SourceKeyId"] == state["arn"] and r["KeyId"] == state["other"], r
        assert c("Decrypt", CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"b": "2"})["Plaintext"] == pt

    def rotation():
        pt = os.urandom(64)
        old = c("Encrypt", KeyId=state["key"], Plaintext=pt)["CiphertextBlob"]
        assert c("RotateKeyOnDemand", KeyId=state["key"])["KeyId"] == state["arn"]
        new = c("Encrypt", KeyId=state["key"], Plaintext=pt)["CiphertextBlob"]
        assert c("Decrypt", CiphertextBlob=old)["Plaintext"] == pt
        assert c("Decrypt", CiphertextBlob=new)["Plaintext"] == pt

    def disable():
        c("DisableKey", KeyId=state["key"])
        assert c("DescribeKey", KeyId=state["key"])["KeyMetadata"]["KeyState"] == "Disabled"
        expect_error(client, "DisabledException", "encrypt", KeyId=state["key"], Plaintext=b"x")
        c("EnableKey", KeyId=state["key"])
        c("Encrypt", KeyId=state["key"], Plaintext=b"x")

    def deletion():
        r = c("ScheduleKeyDeletion", KeyId=state["other"], PendingWindowInDays=7)
        assert r["KeyState"] == "PendingDeletion" and r["KeyId"] == state["other"], r
        expect_error(client, "KMSInvalidStateException", "encrypt", KeyId=state["other"], Plaintext=b"x")
        expect_error(client, "KMSInvalidStateException", "schedule_key_deletion", KeyId=state["other"])
        c("CancelKeyDeletion", KeyId=state["other"])
        assert c("DescribeKey", KeyId=state["other"])["KeyMetadata"]["KeyState"] == "Disabled"

    def errors():
        expect_error(client, "NotFoundException", "describe_key", KeyId="11111111-2222-4333-8444-555555555555")
        expect_error(client, "NotFoundException", "describe_key", KeyId="alias/does-not-exist")
        expect_error(client, "NotFoundException", "describe_key",
                     KeyId="arn:aws:kms:eu-west-1:%s:key/%s" % (ACCOUNT, state["key"]))
        expect_error(client, "ValidationException", "generate_data_key", KeyId=state["key"])

    for title, fn in [("create-key", create), ("create-alias", alias), ("encrypt/decrypt", round_trips),
                      ("generate-data-key", data_key), ("re-encrypt", re_encrypt), ("rotation", rotation),
                      ("disable-key", disable), ("schedule-key-deletion", deletion), ("errors", errors)]:
        if "key" not in state and title != "create-key":
            results.check("%s %s" % (client.name, title), lambda: (_ for _ in ()).throw(RuntimeError("no key")))
            continue
        results.check("%s %s" % (client.name, title), fn)


def esdk(results, envelope, keystore, url, workdir, rng):
    """The Python ESDK's KMS master key provider through the server, against envelope's embedded core."""
    os.environ["AWS_ENDPOINT_URL_KMS"] = url
    kms = Boto(url)
    key_arn = kms.call("create_key", Description="ESDK interop")["KeyMetadata"]["Arn"]
    ctx = {"purpose": "server interop", "é": "ü"}
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])

    def client_for(suite_id):
        policy = (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT if suite_id in COMMITTING
                  else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
        return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)

    def run(args):
        # --kms embedded: this process sets AWS_ENDPOINT_URL_KMS for boto3, which
        # envelope would otherwise follow too; here it opens the served store itself.
        r = subprocess.run([envelope, "--keystore", keystore, "--kms", "embedded", "-q"] + args,
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("envelope %s exited %d: %s" % (args[0], r.returncode, r.stderr.decode(errors="replace")))
        return r

    def policy_args(suite_id):
        return [] if suite_id in COMMITTING else ["--commitment-policy", "forbid-encrypt-allow-decrypt"]

    def python_to_envelope(suite, size):
        pt = os.urandom(size)
        message, header = client_for(suite.algorithm_id).encrypt(
            source=pt, key_provider=provider, algorithm=suite, encryption_context=ctx, frame_length=4096)
        assert header.algorithm == suite
        path = os.path.join(workdir, "py-%04x-%d" % (suite.algorithm_id, size))
        with open(path, "wb") as f:
            f.write(message)
        out = run(["decrypt", "-i", path, "-o", "-", "-c", "purpose=server interop"] + policy_args(suite.algorithm_id))
        assert out.stdout == pt, "envelope decrypted %d bytes, not the %d-byte plaintext" % (len(out.stdout), size)

    default_arn = {}

    def envelope_to_python(suite, size):
        pt = os.urandom(size)
        src, dst = (os.path.join(workdir, "env-%04x-%d.%s" % (suite.algorithm_id, size, x)) for x in ("pt", "ct"))
        with open(src, "wb") as f:
            f.write(pt)
        run(["encrypt", "-i", src, "-o", dst, "--algorithm", "0x%04x" % suite.algorithm_id, "-c", "via=envelope"]
            + policy_args(suite.algorithm_id))
        if not default_arn:
            default_arn["arn"] = kms.call("describe_key", KeyId="alias/envelope-default")["KeyMetadata"]["Arn"]
        with open(dst, "rb") as f:
            message = f.read()
        got, header = client_for(suite.algorithm_id).decrypt(
            source=message, key_provider=aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[default_arn["arn"]]))
        assert got == pt, "the Python ESDK decrypted %d bytes, not the %d-byte plaintext" % (len(got), size)
        assert header.encryption_context.get("via") == "envelope"
        assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [default_arn["arn"]]

    for i, suite in enumerate(SUITES):
        for size in (SIZES[i % len(SIZES)], SIZES[(i + 3) % len(SIZES)]):
            results.check("ESDK KMS provider 0x%04x %d bytes -> envelope" % (suite.algorithm_id, size),
                          lambda s=suite, n=size: python_to_envelope(s, n))
            results.check("envelope 0x%04x %d bytes -> ESDK KMS provider" % (suite.algorithm_id, size),
                          lambda s=suite, n=size: envelope_to_python(s, n))

    def envelope_named_key():
        pt = os.urandom(rng.randrange(1, 10000))
        src, dst = os.path.join(workdir, "named.pt"), os.path.join(workdir, "named.ct")
        with open(src, "wb") as f:
            f.write(pt)
        run(["encrypt", "-i", src, "-o", dst, "-k", key_arn])
        with open(dst, "rb") as f:
            got, _ = client_for(0x0578).decrypt(source=f.read(), key_provider=provider)
        assert got == pt

    results.check("envelope -k <server-made key> -> ESDK KMS provider", envelope_named_key)

    aes = {"provider": "raw-aes", "key": os.urandom(32), "namespace": "rewrap", "name": "aes"}
    aes_file = os.path.join(workdir, "rewrap-aes.key")
    with open(aes_file, "wb") as f:
        f.write(aes["key"])
    aes_words = ["provider=raw-aes", "key=" + aes_file, "namespace=rewrap", "name=aes"]
    raw = esdk_py.key_provider([aes], True)

    def rewrap(suite, size, frame_length, to_kms):
        sid = suite.algorithm_id
        pt = os.urandom(size)
        old, new = (raw, provider) if to_kms else (provider, raw)
        message, old_header = client_for(sid).encrypt(
            source=pt, key_provider=old, algorithm=suite, encryption_context=ctx, frame_length=frame_length)
        src, dst = (os.path.join(workdir, "rewrap-%04x-%s.%s" % (sid, to_kms, x)) for x in ("old", "new"))
        with open(src, "wb") as f:
            f.write(message)
        args = ["rewrap", "-i", src, "-o", dst] + policy_args(sid)
        # To the KMS core: the raw key opens, a server-made key wraps. From it:
        # no -u (the KMS core by discovery), the raw key wraps.
        args += (["-u"] + aes_words + ["-k", key_arn]) if to_kms else (["-w"] + aes_words)
        run(args)
        with open(dst, "rb") as f:
            rewrapped = f.read()
        got, header = client_for(sid).decrypt(source=rewrapped, key_provider=new)
        assert got == pt, "the Python ESDK decrypted %d bytes, not the %d-byte plaintext" % (len(got), size)
        assert header.message_id != old_header.message_id, "the message id carried over"
        assert header.algorithm == suite and header.frame_length == frame_length, "suite or frame length changed"
        stored = {k: v for k, v in header.encryption_context.items() if k != "aws-crypto-public-key"}
        assert stored == ctx, "context %r, wanted %r" % (stored, ctx)
        providers = {k.key_provider.provider_id for k in header.encrypted_data_keys}
        assert providers == ({"aws-kms"} if to_kms else {"rewrap"}), providers
        # The ESDK logs a traceback for the refusal this expects; keep it quiet.
        logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
        try:
            client_for(sid).decrypt(source=rewrapped, key_provider=old)
        except Exception:  # noqa: BLE001  (any refusal is the expected outcome)
            pass
        else:
            raise AssertionError("the old key still opens the rewrapped message")

    rewrap_sizes = [0, 1, 4097, 65536, 300001, 3 << 20]
    for i, suite in enumerate(SUITES):
        for to_kms in (True, False):
            size = rewrap_sizes[(2 * i + to_kms) % len(rewrap_sizes)]
            fl = [1024, 4096, 65536][(i + to_kms) % 3]
            title = "rewrap 0x%04x %d bytes frame %d: %s" % (
                suite.algorithm_id, size, fl, "raw AES -> KMS core" if to_kms else "KMS core -> raw AES")
            results.check(title, lambda s=suite, n=size, f=fl, t=to_kms: rewrap(s, n, f, t))


def main():
    envelope = os.path.abspath(sys.argv[1])
    rng = random.Random()
    workdir = tempfile.mkdtemp(prefix="envelope-server-clients-")
    keystore = os.path.join(workdir, "store")
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_") or k.startswith("ENVELOPE_"):
            del env[k]
    env.update({
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1",
    })
    os.environ.clear()
    os.environ.update(env)
    results = Results()
    try:
        with Server(envelope, keystore) as server:
            print("server-clients: %s over %s" % (server.url, keystore), flush=True)
            scenario(Boto(server.url), results, "%08x" % rng.getrandbits(32))
            scenario(Cli(server.url, workdir, env), results, "%08x" % rng.getrandbits(32))
            esdk(results, envelope, keystore, server.url, workdir, rng)

            def graceful_stop():
                rc = server.stop()
                log = server.log()
                assert rc == 0, "the server exited %d: %s" % (rc, log[-2000:])
                assert "stopped; the key store is closed" in log, log[-2000:]
                # The request log names operations and keys, never blobs.
                assert " GenerateDataKey arn:aws:kms:" in log and "CiphertextBlob" not in log

            results.check("SIGTERM stops the server cleanly", graceful_stop)
    finally:
        if results.failed == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("server-clients: files kept in %s" % workdir)
    print("server-clients: %d passed, %d failed" % (results.passed, results.failed))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
