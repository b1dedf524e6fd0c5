"""envelope against the real aws-encryption-cli, through `envelope kms serve`.

    PYTHONPATH=DIR .venv/bin/python tests/interop/aws_cli.py path/to/envelope

aws-encryption-sdk-cli is not in tests/interop/requirements.txt: every
release pins aws-encryption-sdk~=3.1, which conflicts with the 4.x ESDK the
other tests pin (pip check refuses the set), though it runs with it. Install
it beside the venv instead, without touching it:

    .venv/bin/pip install --no-deps --target DIR aws-encryption-sdk-cli==4.3.0 base64io==1.0.3

Without it this script says so and exits 2: nothing is counted as passed.

Both tools wrap data keys with a KMS key of the served store (aws-encryption-cli
through boto3's AWS_ENDPOINT_URL_KMS, envelope through the same store), then:
* one argument file (`@args`: aws-encryption-cli's `-e`, `-S`, `--encode`,
  `-w key=ARN`, a comment) drives both tools' encryption, and each tool
  decrypts the other's base64 message with `--decode`;
* `--metadata-layout aws-encryption-cli` records of envelope's decryptions
  equal aws-encryption-cli's records of the same messages, field for field,
  and the encrypt records have the same fields and types.
Ends with `aws-cli: N passed, M failed`.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))

try:
    import aws_encryption_sdk_cli  # noqa: F401
except ImportError:
    print("aws-cli: aws-encryption-sdk-cli is not importable (see this script's docstring); nothing checked")
    sys.exit(2)

import clients  # noqa: E402  (the served store and boto3)


def shape(value):
    """The layout of a JSON value: its keys and the types of its leaves."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def main():
    envelope = os.path.abspath(sys.argv[1])
    passed = failed = 0
    with tempfile.TemporaryDirectory() as work:
        keystore = os.path.join(work, "store")
        with clients.Server(envelope, keystore) as server:
            arn = clients.Boto(server.url).call("create_key", Description="aws-cli interop")["KeyMetadata"]["Arn"]
            env = dict(os.environ, AWS_ENDPOINT_URL_KMS=server.url, AWS_ACCESS_KEY_ID="test",
                       AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=clients.REGION)
            env.pop("AWS_PROFILE", None)

            def aws(args):
                code = "import sys; from aws_encryption_sdk_cli import cli; sys.exit(cli())"
                r = subprocess.run([sys.executable, "-c", code] + args, cwd=work, env=env,
                                   capture_output=True, timeout=120)
                if r.returncode != 0:
                    raise AssertionError("aws-encryption-cli %s: %s" % (args, r.stderr.decode(errors="replace")))

            def env_(args):
                r = subprocess.run([envelope, "--keystore", keystore, "--kms", "embedded", "-q"] + args,
                                   cwd=work, env=env, capture_output=True, timeout=120)
                if r.returncode != 0:
                    raise AssertionError("envelope %s: %s" % (args, r.stderr.decode(errors="replace")))

            def check(title, fn):
                nonlocal passed, failed
                try:
                    fn()
                    passed += 1
                    print("ok   %s" % title)
                except Exception as e:  # noqa: BLE001  (reported, then counted)
                    failed += 1
                    print("FAIL %s: %s" % (title, e))

            plain = os.urandom(200_000)
            with open(os.path.join(work, "plain.bin"), "wb") as f:
                f.write(plain)
            with open(os.path.join(work, "args"), "w") as f:
                f.write("# both tools read this file\n-e -S --encode\n-i plain.bin -w 'key=%s'  # the served key\n" % arn)

            def read(name):
                with open(os.path.join(work, name), "rb") as f:
                    return f.read()

            def records(name):
                with open(os.path.join(work, name)) as f:
                    return [json.loads(line) for line in f]

            def argfile_and_base64():
                aws(["@args", "-o", "by-aws.b64"])
                env_(["@args", "-o", "by-envelope.b64"])
                for name in ("by-aws.b64", "by-envelope.b64"):
                    assert all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
                               for c in read(name)), "%s is not base64 text" % name
                aws(["-d", "--decode", "-i", "by-envelope.b64", "-o", "aws-opened", "-w", "key=" + arn,
                     "--metadata-output", "aws-decrypt.json"])
                env_(["-d", "--decode", "-i", "by-aws.b64", "-o", "envelope-opened", "-w", "key=" + arn,
                      "--metadata-output", "envelope-decrypt.json", "--metadata-layout", "aws-encryption-cli"])
                assert read("aws-opened") == plain, "aws-encryption-cli did not open envelope's message"
                assert read("envelope-opened") == plain, "envelope did not open aws-encryption-cli's message"

            def decrypt_records_equal():
                # Each tool now opens the message the other tool opened above: the same bytes.
                aws(["-d", "--decode", "-i", "by-aws.b64", "-o", "aws-opened-2", "-w", "key=" + arn,
                     "--metadata-output", "aws-decrypt.json"])
                env_(["-d", "--decode", "-i", "by-envelope.b64", "-o", "envelope-opened-2", "-w", "key=" + arn,
                      "--metadata-output", "envelope-decrypt.json", "--metadata-layout", "aws-encryption-cli"])
                by_aws = {r["input"]: r for r in records("aws-decrypt.json")}
                by_env = {r["input"]: r for r in records("envelope-decrypt.json")}
                assert sorted(by_aws) == sorted(by_env), (sorted(by_aws), sorted(by_env))
                for path, a in by_aws.items():
                    e = by_env[path]
                    assert os.path.dirname(a.pop("output")) == os.path.dirname(e.pop("output")) == work
                    assert a == e, "records differ for %s:\naws-encryption-cli %s\nenvelope           %s" % (
                        path, json.dumps(a, sort_keys=True), json.dumps(e, sort_keys=True))
                # The lines themselves, as json.dumps writes them.
                with open(os.path.join(work, "envelope-decrypt.json")) as f:
                    for line in f:
                        assert line == json.dumps(json.loads(line), sort_keys=True) + "\n", line

            def encrypt_records_alike():
                aws(["-e", "-i", "plain.bin", "-o", "aws.enc", "-w", "key=" + arn, "-c", "k=v",
                     "--frame-length", "4096", "--metadata-output", "aws-encrypt.json"])
                env_(["-e", "-i", "plain.bin", "-o", "envelope.enc", "-w", "key=" + arn, "-c", "k=v",
                      "--frame-length", "4096", "--metadata-output", "envelope-encrypt.json", "--metadata-layout", "aws-encryption-cli"])
                [a], [e] = records("aws-encrypt.json"), records("envelope-encrypt.json")
                assert shape(a) == shape(e), "layouts differ:\n%s\n%s" % (shape(a), shape(e))
                for field in ("algorithm", "version", "content_type", "frame_length", "type", "header_iv_length"):
                    assert a["header"][field] == e["header"][field], field
                assert a["input"] == e["input"] == os.path.join(work, "plain.bin")
                assert a["mode"] == e["mode"] == "encrypt"

            check("one @argfile drives both; each opens the other's --encode output with --decode",
                  argfile_and_base64)
            check("decrypt metadata records are field for field aws-encryption-cli's", decrypt_records_equal)
            check("encrypt metadata records have aws-encryption-cli's layout", encrypt_records_alike)
            server.stop()
    print("aws-cli: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
