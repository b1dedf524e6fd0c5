#!/usr/bin/env python3
"""Live interop between the envelope CLI and the reference Python ESDK.

    python tests/interop/interop.py path/to/envelope [--seed N] [--rounds R] [--keep]

Every run draws fresh keys (AES-128/192/256 from os.urandom, two RSA key pairs
from `cryptography`), random encryption contexts (with non-ASCII keys and values)
and random plaintext sizes from 0 up to a few MiB, and round-trips both ways:

* envelope encrypts -> Python decrypts: the plaintext must match, and the header
  Python parsed must carry the suite, frame length, context and one EDK per key
  that envelope was asked for; for unsigned suites the message length must equal
  what the Python ESDK computes for that header and plaintext (the framing:
  regular frames, then a final frame that is empty for exact multiples).
* Python encrypts -> envelope decrypts: the plaintext must match, with a subset
  of the context given back with -c (the reproduced context).

Every suite each side allows (non-committing ones under the
forbid-encrypt-allow-decrypt / require-encrypt-allow-decrypt policies), AES and
RSA keyrings with every padding, multi-key messages opened by one key, and frame
lengths from 1 to 65536 (exact multiples included) appear in every run, in
each direction. A few negative checks follow: wrong key, tampered body, wrong
context, policy. The seed printed first reproduces the choices (not the keys).

Four fixed cases of about 19 MiB each way pass --threads (1 to 3), so that
envelope's parallel pipeline (inputs over 16 MiB) meets Python every run.

Raw ECDH (the Material Providers Library's Raw ECDH keyring, through
tests/interop/esdk_ecdh.py), on P-256, P-384 and P-521, both ways: a static
sender's messages opened by the recipient's discovery keyring, by the sender's
own static keyring and by the recipient's static keyring (configured back to
front), and an ephemeral sender's opened by discovery; sender keys made with
`envelope keygen ecdh`, recipient keys with `cryptography` (given to envelope as
PEM or DER); a raw ECDH + raw AES multi-key message each way; and refusals of
the wrong key and of a tampered provider info.

KMS keys (tests/interop/esdk_kms_moto.py): the Python ESDK's KMS master key
provider and envelope's --kms-endpoint against one moto server, both ways, for
four suites; a message under another key is refused.

The Python ESDK refuses to encrypt with frame lengths that are not a multiple of
16; esdk_py.any_frame_length lifts only that check (see there).

Ends with `interop: N passed, M failed` and exits non-zero on any failure; the
files of failed cases are kept in a temporary directory that is printed.
"""

import argparse
import base64
import itertools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import esdk_kms_moto  # noqa: E402  (needs the path above)
import esdk_py  # noqa: E402  (needs the path above)
from aws_encryption_sdk.internal.formatting import ciphertext_length  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec as ec_keys  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys  # noqa: E402

MIB = 1 << 20
PADDINGS = ["pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512"]
FRAME_LENGTHS = [1, 3, 16, 100, 128, 1000, 4096, 4096, 65536, 65536, None]  # None: random
SIZE_MODES = ["empty", "exact", "exact+1", "small", "medium", "large"]
CLI_TIMEOUT = 300

# Characters for random contexts: ASCII, Latin-1, Greek, CJK, fullwidth, astral
# (emoji), RTL; UTF-8 byte order of these differs from UTF-16 order.
CONTEXT_ALPHABET = "abcXYZ019_.-/:éüßΩλж中文封筒ｚ😀🔐מעט"


def write_key_file(path, data):
    """Writes a key file owner-only, as a careful user keeps one (envelope warns
    about a secret key file that others can read)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class Keys:
    """Fresh keys for this run, written to files for the CLI."""

    def __init__(self, rng, workdir):
        self.dir = os.path.join(workdir, "keys")
        os.makedirs(self.dir)
        tag = "%08x" % rng.getrandbits(32)
        self.by_label = {}
        for bits in (128, 192, 256):
            key = os.urandom(bits // 8)
            path = self._write("aes-%d.key" % bits, key)
            self.by_label["aes%d" % bits] = {
                "provider": "raw-aes", "namespace": "interop-" + tag, "name": "aes-%d" % bits,
                "key": key, "path": path,
            }
        # The same kind of key given to the CLI as base64 text, under a unicode name.
        key = os.urandom(32)
        path = self._write("aes-256.b64", base64.b64encode(key) + b"\n")
        self.by_label["aes256-b64"] = {
            "provider": "raw-aes", "namespace": "interop-ключи-" + tag, "name": "aes-256-🔑",
            "key": key, "path": path,
        }
        for bits in (2048, 3072):
            private = rsa_keys.generate_private_key(public_exponent=65537, key_size=bits)
            private_pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            public_pem = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self.by_label["rsa%d" % bits] = {
                "provider": "raw-rsa", "namespace": "interop-" + tag, "name": "rsa-%d" % bits,
                "private_pem": private_pem, "public_pem": public_pem,
                "private_path": self._write("rsa-%d-private.pem" % bits, private_pem),
                "public_path": self._write("rsa-%d-public.pem" % bits, public_pem),
            }

    def _write(self, name, data):
        return write_key_file(os.path.join(self.dir, name), data)

    def rsa(self, bits, padding):
        desc = dict(self.by_label["rsa%d" % bits])
        desc["padding"] = padding
        return desc

    def keyset(self, label):
        """The key list a keyset label stands for; the first generates."""
        if label.startswith("aes"):
            return [self.by_label[label]]
        if label.startswith("rsa-"):
            return [self.rsa(2048, label[4:])]
        if label == "multi-aes-rsa":
            return [self.by_label["aes256"], self.rsa(3072, "oaep-sha256")]
        if label == "multi-rsa-aes-aes":
            return [self.rsa(2048, "oaep-sha1"), self.by_label["aes128"], self.by_label["aes256-b64"]]
        raise ValueError(label)


KEYSETS = ["aes128", "aes192", "aes256", "aes256-b64"] + ["rsa-" + p for p in PADDINGS] + [
    "multi-aes-rsa", "multi-rsa-aes-aes"]


def cli_key_args(desc, for_encrypt, rng):
    """The -w group for one key."""
    if desc["provider"] == "raw-ecdh":
        group = ["-w", "provider=raw-ecdh", "scheme=" + desc["scheme"]]
        if desc["scheme"] == "static":
            group += ["sender-key=" + desc["sender_key_path"],
                      "recipient-public-key=" + desc["recipient_public_key_path"]]
        elif desc["scheme"] == "ephemeral":
            group += ["recipient-public-key=" + desc["recipient_public_key_path"]]
        else:
            group += ["recipient-key=" + desc["recipient_key_path"]]
        return group
    if desc["provider"] == "raw-aes":
        return ["-w", "provider=raw-aes", "key=" + desc["path"], "namespace=" + desc["namespace"],
                "name=" + desc["name"]]
    # On encrypt the public key is the usual choice; a private PEM works too.
    path = desc["private_path"] if not for_encrypt or rng.random() < 0.2 else desc["public_path"]
    return ["-w", "provider=raw-rsa", "key=" + path, "namespace=" + desc["namespace"], "name=" + desc["name"],
            "padding=" + desc["padding"]]


ECDH_CURVES = {"p256": ec_keys.SECP256R1, "p384": ec_keys.SECP384R1, "p521": ec_keys.SECP521R1}


class EcdhKeys:
    """Per curve, a sender key pair made by `envelope keygen ecdh` and a recipient
    key pair made by `cryptography`, as files and as bytes."""

    def __init__(self, envelope, workdir, rng):
        self.dir = os.path.join(workdir, "ecdh-keys")
        os.makedirs(self.dir)
        self.parties = {}
        for curve, cls in ECDH_CURVES.items():
            prefix = os.path.join(self.dir, "sender-" + curve)
            r = subprocess.run([envelope, "-q", "keygen", "ecdh", "--curve", curve, "-o", prefix],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
            if r.returncode != 0:
                raise RuntimeError("envelope keygen ecdh exited %d: %s" % (r.returncode, r.stderr.decode()))
            with open(prefix + "-private.pem", "rb") as f:
                sender_private = f.read()
            with open(prefix + "-public.pem", "rb") as f:
                sender_public = serialization.load_pem_public_key(f.read())
            recipient = ec_keys.generate_private_key(cls())
            recipient_private = recipient.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            stem = os.path.join(self.dir, "recipient-" + curve)
            write_key_file(stem + "-private.pem", recipient_private)
            public = recipient.public_key()
            # The recipient's public key goes to envelope as DER or as PEM.
            if rng.random() < 0.5:
                public_path, public_bytes = stem + "-public.der", public.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            else:
                public_path, public_bytes = stem + "-public.pem", public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            with open(public_path, "wb") as f:
                f.write(public_bytes)
            der = lambda k: k.public_bytes(serialization.Encoding.DER,  # noqa: E731
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
            self.parties[curve] = {
                "sender": {"private_pem": sender_private, "private_path": prefix + "-private.pem",
                           "public_der": der(sender_public), "public_path": prefix + "-public.pem"},
                "recipient": {"private_pem": recipient_private, "private_path": stem + "-private.pem",
                              "public_der": der(public), "public_path": public_path},
            }

    def key(self, scheme, curve, own="sender", peer="recipient"):
        """A raw ECDH key description for esdk_ecdh and for the CLI (see cli_key_args)."""
        p = self.parties[curve]
        desc = {"provider": "raw-ecdh", "scheme": scheme, "curve": curve,
                "name": "ecdh-%s-%s%s" % (curve, scheme, "-by-" + own if scheme != "ephemeral" else "")}
        if scheme == "static":
            desc.update(sender_private_pem=p[own]["private_pem"], sender_key_path=p[own]["private_path"],
                        recipient_public_der=p[peer]["public_der"], recipient_public_key_path=p[peer]["public_path"])
        elif scheme == "ephemeral":
            desc.update(recipient_public_der=p[peer]["public_der"], recipient_public_key_path=p[peer]["public_path"])
        else:
            desc.update(recipient_private_pem=p[own]["private_pem"], recipient_key_path=p[own]["private_path"])
        return desc


def suite_arg(suite_id, rng):
    """--algorithm in one of its accepted spellings."""
    return rng.choice(["%04x" % suite_id, "0x%04x" % suite_id, esdk_py.SUITE_NAMES[suite_id]])


def random_text(rng, lo, hi):
    return "".join(rng.choice(CONTEXT_ALPHABET) for _ in range(rng.randint(lo, hi)))


def random_context(rng):
    ctx = {}
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8])):
        key = random_text(rng, 1, 12)
        if key.startswith(("-", "aws-crypto-")):
            key = "k" + key
        # Values may hold '=' and spaces: the CLI splits k=v at the first '='.
        value = random_text(rng, 1, 20) + rng.choice(["", "", " with spaces", "=x", ",y"])
        ctx[key] = value
    return ctx


def pick_frame_length(cycle, rng):
    fl = next(cycle)
    return fl if fl is not None else rng.randint(1, 200000)


def pick_size(mode, fl, rng):
    """A plaintext size for a mode, kept to at most ~4000 frames (Python's cost is per frame)."""
    max_frames = 4000
    cap = min(4 * MIB, fl * max_frames)
    if mode == "empty":
        return 0
    if mode == "exact":
        return fl * rng.randint(1, max(1, min(cap // fl, 64)))
    if mode == "exact+1":
        return fl * rng.randint(1, max(1, min(cap // fl, 64) - 1)) + 1
    if mode == "small":
        return rng.randint(1, min(cap, 4096))
    if mode == "medium":
        return rng.randint(1, min(cap, 256 * 1024))
    return rng.randint(min(cap, MIB), cap)


class Runner:
    def __init__(self, envelope, workdir, rng):
        self.envelope = envelope
        self.workdir = workdir
        self.rng = rng
        self.passed = 0
        self.failed = []
        self.counter = itertools.count(1)

    def case_dir(self):
        path = os.path.join(self.workdir, "case-%03d" % next(self.counter))
        os.makedirs(path)
        return path

    def run_cli(self, args):
        return subprocess.run(
            [self.envelope] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT
        )

    def record(self, title, fn):
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001  (every failure is reported, then counted)
            self.failed.append(title)
            print("FAIL %s (%.2fs)\n     %s: %s" % (title, time.monotonic() - start, type(e).__name__, e),
                  flush=True)
            return
        self.passed += 1
        print("ok   %s (%.2fs)" % (title, time.monotonic() - start), flush=True)

    # -- envelope encrypts, Python decrypts ---------------------------------

    def envelope_to_python(self, keys, dec_keys, suite_id, fl, size, ctx, extra=()):
        d = self.case_dir()
        plaintext = os.urandom(size)
        pt_path, ct_path = os.path.join(d, "plaintext"), os.path.join(d, "message")
        with open(pt_path, "wb") as f:
            f.write(plaintext)
        args = ["encrypt", "-i", pt_path, "-o", ct_path, "--algorithm", suite_arg(suite_id, self.rng),
                "--frame-length", str(fl)]
        if not esdk_py.is_committing(suite_id):
            args += ["--commitment-policy", "forbid-encrypt-allow-decrypt"]
        for k in keys:
            args += cli_key_args(k, True, self.rng)
        for k, v in ctx.items():
            args += ["-c", "%s=%s" % (k, v)]
        r = self.run_cli(args + list(extra))
        if r.returncode != 0:
            raise AssertionError("envelope encrypt exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
        with open(ct_path, "rb") as f:
            message = f.read()
        got, header = esdk_py.decrypt_stream(dec_keys, ct_path)
        if got != plaintext:
            raise AssertionError("Python decrypted %d bytes that differ from the %d-byte plaintext" % (len(got), size))
        if header.algorithm.algorithm_id != suite_id:
            raise AssertionError("header names suite 0x%04x" % header.algorithm.algorithm_id)
        if header.frame_length != fl:
            raise AssertionError("header frame length %d, asked for %d" % (header.frame_length, fl))
        stored = dict(header.encryption_context)
        public_key = stored.pop("aws-crypto-public-key", None)
        if (public_key is not None) != esdk_py.is_signing(suite_id):
            raise AssertionError("aws-crypto-public-key presence does not match the suite")
        if stored != ctx:
            raise AssertionError("header context %r differs from the requested %r" % (stored, ctx))
        if len(header.encrypted_data_keys) != len(keys):
            raise AssertionError("%d EDKs for %d keys" % (len(header.encrypted_data_keys), len(keys)))
        if not esdk_py.is_signing(suite_id):
            want = ciphertext_length(header=header, plaintext_length=size)
            if len(message) != want:
                raise AssertionError("message is %d bytes; the ESDK's framing gives %d" % (len(message), want))
        shutil.rmtree(d)

    # -- Python encrypts, envelope decrypts ---------------------------------

    def python_to_envelope(self, keys, dec_keys, suite_id, fl, size, ctx, extra=()):
        d = self.case_dir()
        plaintext = os.urandom(size)
        ct_path = os.path.join(d, "message")
        message = esdk_py.encrypt(keys, suite_id, fl, ctx, plaintext)
        with open(ct_path, "wb") as f:
            f.write(message)
        args = ["decrypt", "-i", ct_path]
        to_stdout = self.rng.random() < 0.3
        out_path = os.path.join(d, "decrypted")
        args += ["-o", "-" if to_stdout else out_path]
        if not esdk_py.is_committing(suite_id):
            args += ["--commitment-policy",
                     self.rng.choice(["require-encrypt-allow-decrypt", "forbid-encrypt-allow-decrypt"])]
        elif self.rng.random() < 0.5:
            args += ["--commitment-policy", "require-encrypt-require-decrypt"]
        for k in dec_keys:
            args += cli_key_args(k, False, self.rng)
        for k, v in ctx.items():
            if self.rng.random() < 0.5:
                args += ["-c", "%s=%s" % (k, v)]
        r = self.run_cli(args + list(extra))
        if r.returncode != 0:
            raise AssertionError("envelope decrypt exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
        if to_stdout:
            got = r.stdout
        else:
            with open(out_path, "rb") as f:
                got = f.read()
        if got != plaintext:
            raise AssertionError("envelope decrypted %d bytes that differ from the %d-byte plaintext" % (len(got), size))
        shutil.rmtree(d)

    # -- negative checks ------------------------------------------------------

    def envelope_refuses(self, message, plaintext, dec_keys, extra_args=()):
        """envelope must exit non-zero with a one-line error and release no bytes
        that are not a prefix of the plaintext."""
        d = self.case_dir()
        ct_path = os.path.join(d, "message")
        with open(ct_path, "wb") as f:
            f.write(message)
        args = ["decrypt", "-i", ct_path, "-o", "-"] + list(extra_args)
        for k in dec_keys:
            args += cli_key_args(k, False, self.rng)
        r = self.run_cli(args)
        err = r.stderr.decode(errors="replace").strip()
        if r.returncode == 0:
            raise AssertionError("envelope decrypt succeeded")
        if not err or "\n" in err:
            raise AssertionError("stderr is not one line: %r" % err)
        if "panicked" in err:
            raise AssertionError("envelope panicked: %s" % err)
        if not plaintext.startswith(r.stdout):
            raise AssertionError("envelope wrote %d bytes that are not a prefix of the plaintext" % len(r.stdout))
        shutil.rmtree(d)
        return err


def flip_body_byte(message):
    """Flips a bit in the first frame's content (the body starts after the header
    and its authentication, which Python parses)."""
    _, hl, al = esdk_py.header_layout(message)
    out = bytearray(message)
    out[hl + al + 4 + 12] ^= 1
    return bytes(out)


def run_ecdh(runner, keys, ecdh, rng):
    """The raw ECDH cases (see the module docstring); returns the plaintext bytes used."""
    total = 0
    suites = itertools.cycle(rng.sample([s.algorithm_id for s in esdk_py.SUITES], len(esdk_py.SUITES)))
    frames = itertools.cycle(rng.sample(FRAME_LENGTHS, len(FRAME_LENGTHS)))

    def case(direction, enc, dec, extra_title=""):
        nonlocal total
        sid = next(suites)
        fl = pick_frame_length(frames, rng)
        size = rng.choice([0, 1, rng.randint(2, 5000), rng.randint(5000, 300_000)])
        ctx = random_context(rng)
        total += size
        title = "ecdh %s suite=0x%04x keys=%s decrypt-with=%s frame=%d size=%d context=%d pairs%s" % (
            direction, sid, "+".join(k["name"] for k in enc), "+".join(k["name"] for k in dec), fl, size,
            len(ctx), extra_title)
        step = runner.envelope_to_python if direction == "envelope->python" else runner.python_to_envelope
        runner.record(title, lambda: step(enc, dec, sid, fl, size, ctx))

    for curve in ECDH_CURVES:
        static = ecdh.key("static", curve)
        ephemeral = ecdh.key("ephemeral", curve)
        openers = [ecdh.key("discovery", curve, own="recipient"), static,
                   ecdh.key("static", curve, own="recipient", peer="sender")]
        for direction in ("envelope->python", "python->envelope"):
            for opener in openers:
                case(direction, [static], [opener])
            case(direction, [ephemeral], [openers[0]])

    aes256 = keys.by_label["aes256"]
    multi = [ecdh.key("ephemeral", "p384"), aes256]
    for direction in ("envelope->python", "python->envelope"):
        case(direction, multi, [ecdh.key("discovery", "p384", own="recipient")], " (multi-key)")
        case(direction, multi, [aes256], " (multi-key)")

    # Refusals: the wrong private key, and a sender key moved off the curve.
    pt = os.urandom(3000)
    msg = esdk_py.encrypt([ecdh.key("ephemeral", "p256")], 0x0578, 1024, {"purpose": "negative"}, pt)

    def refuses(message, dec_keys, want):
        def check():
            err = runner.envelope_refuses(message, pt, dec_keys)
            if want not in err:
                raise AssertionError("error %r does not mention %r" % (err, want))
        return check

    runner.record("negative: envelope refuses a Python raw ECDH message under another private key",
                  refuses(msg, [ecdh.key("discovery", "p256", own="sender")], "none of the 1"))
    header, _, _ = esdk_py.header_layout(msg)
    (edk,) = header.encrypted_data_keys
    info = edk.key_provider.key_info
    assert len(info) == 75 and msg.count(info) == 1
    bad_info = info[:42] + b"\x02" + b"\x00" * 31 + b"\x03"  # x = 3: no point on P-256
    runner.record("negative: envelope refuses a Python raw ECDH message whose sender key is off the curve",
                  refuses(msg.replace(info, bad_info), [ecdh.key("discovery", "p256", own="recipient")],
                          "not a point on P-256"))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("envelope", help="path of the built envelope binary")
    ap.add_argument("--seed", type=int, default=None, help="seed for the random choices (not the keys)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over all suites in each direction")
    ap.add_argument("--keep", action="store_true", help="keep the work directory even if all pass")
    opts = ap.parse_args()

    envelope = os.path.abspath(opts.envelope)
    if not os.access(envelope, os.X_OK):
        print("interop: %s is not an executable" % envelope, file=sys.stderr)
        print("interop: 0 passed, 1 failed")
        return 1
    seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="envelope-interop-")
    print("interop: seed %d, work directory %s" % (seed, workdir), flush=True)
    started = time.monotonic()

    keys = Keys(rng, workdir)
    runner = Runner(envelope, workdir, rng)
    frames = itertools.cycle(rng.sample(FRAME_LENGTHS, len(FRAME_LENGTHS)))
    modes = itertools.cycle(rng.sample(SIZE_MODES, len(SIZE_MODES)))
    total_bytes = 0

    for direction in ("envelope->python", "python->envelope"):
        for _ in range(opts.rounds):
            # Each round pairs every suite with a keyset; across rounds every
            # keyset meets several suites.
            labels = itertools.cycle(rng.sample(KEYSETS, len(KEYSETS)))
            for s in esdk_py.SUITES:
                sid = s.algorithm_id
                label = next(labels)
                enc = keys.keyset(label)
                # Multi-key messages are opened by one of their keys, or all.
                dec = enc if len(enc) == 1 or rng.random() < 0.3 else [rng.choice(enc)]
                fl = pick_frame_length(frames, rng)
                mode = next(modes)
                size = pick_size(mode, fl, rng)
                ctx = random_context(rng)
                total_bytes += size
                title = "%s suite=0x%04x keys=%s decrypt-with=%s frame=%d size=%d (%s) context=%d pairs" % (
                    direction, sid, label, "+".join(k["name"] + ("/" + k["padding"] if "padding" in k else "")
                                                    for k in dec), fl, size, mode, len(ctx))
                step = runner.envelope_to_python if direction == "envelope->python" else runner.python_to_envelope
                runner.record(title, lambda: step(enc, dec, sid, fl, size, ctx))

    # Inputs above envelope's single-threaded limit (16 MiB) go through its
    # parallel pipeline (batches of frames on worker threads): both ways, with
    # explicit thread counts, at every kind of frame boundary.
    for sid, fl, threads in ((0x0578, 65536, 2), (0x0478, 4096, 3), (0x0178, 1000, 2), (0x0346, 4096, 1)):
        enc = dec = keys.keyset("aes256")
        size = 19 * MIB + rng.randint(0, fl)
        ctx = random_context(rng)
        extra = ["--threads", str(threads)]
        total_bytes += 2 * size
        for direction, step in (("envelope->python", runner.envelope_to_python),
                                ("python->envelope", runner.python_to_envelope)):
            title = "parallel %s suite=0x%04x frame=%d size=%d --threads %d" % (direction, sid, fl, size, threads)
            runner.record(title, lambda: step(enc, dec, sid, fl, size, ctx, extra))

    total_bytes += run_ecdh(runner, keys, EcdhKeys(envelope, workdir, rng), rng)

    # Negative checks.
    aes256, rsa2048 = keys.by_label["aes256"], keys.rsa(2048, "oaep-sha256")
    pt = os.urandom(5000)
    msg = esdk_py.encrypt([aes256], 0x0578, 1024, {"purpose": "negative"}, pt)
    wrong = dict(aes256, key=os.urandom(32), path=keys._write("wrong.key", os.urandom(32)))

    def refuses(message, dec_keys, extra=(), expect_word=None):
        def check():
            err = runner.envelope_refuses(message, pt, dec_keys, extra)
            if expect_word and expect_word.lower() not in err.lower():
                raise AssertionError("error %r does not mention %r" % (err, expect_word))
        return check

    runner.record("negative: envelope refuses a Python message under the wrong AES key",
                  refuses(msg, [wrong]))
    runner.record("negative: envelope refuses a Python message with a flipped body bit",
                  refuses(flip_body_byte(msg), [aes256], expect_word="frame"))
    runner.record("negative: envelope refuses a reproduced context that differs",
                  refuses(msg, [aes256], ["-c", "purpose=positive"]))
    runner.record("negative: envelope refuses a Python message with a byte appended",
                  refuses(msg + b"\x00", [aes256]))
    legacy = esdk_py.encrypt([rsa2048], 0x0178, 1024, {}, pt)
    runner.record("negative: envelope refuses a non-committing message under the default policy",
                  refuses(legacy, [rsa2048]))

    def python_refuses_tampered_envelope_message():
        d = runner.case_dir()
        src = os.path.join(d, "pt")
        with open(src, "wb") as f:
            f.write(pt)
        out = os.path.join(d, "msg")
        r = runner.run_cli(["encrypt", "-i", src, "-o", out, "--frame-length", "1024"]
                           + cli_key_args(aes256, True, rng))
        if r.returncode != 0:
            raise AssertionError("envelope encrypt exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
        with open(out, "rb") as f:
            good = f.read()
        if esdk_py.decrypt([aes256], good)[0] != pt:
            raise AssertionError("Python could not decrypt the untampered message")
        try:
            esdk_py.decrypt([aes256], flip_body_byte(good))
        except Exception:  # noqa: BLE001  (any refusal is the expected outcome)
            shutil.rmtree(d)
            return
        raise AssertionError("Python decrypted a tampered envelope message")

    runner.record("negative: Python refuses an envelope message with a flipped body bit",
                  python_refuses_tampered_envelope_message)

    # envelope rewrap of Python-written messages: every suite, raw AES to raw RSA and back;
    # the Python ESDK opens the result with the new keys only, with the same context.
    def rewrap_case(sid, old_label, new_label, fl, size):
        def check():
            d = runner.case_dir()
            old, new = keys.keyset(old_label), keys.keyset(new_label)
            plaintext = os.urandom(size)
            ctx = random_context(rng)
            message = esdk_py.encrypt(old, sid, fl, ctx, plaintext)
            src, dst = os.path.join(d, "old"), os.path.join(d, "new")
            with open(src, "wb") as f:
                f.write(message)
            args = ["rewrap", "-i", src, "-o", dst]
            if not esdk_py.is_committing(sid):
                args += ["--commitment-policy", "forbid-encrypt-allow-decrypt"]
            for k in old:
                args += ["-u"] + cli_key_args(k, False, rng)[1:]
            for k in new:
                args += cli_key_args(k, True, rng)
            r = runner.run_cli(args)
            if r.returncode != 0:
                raise AssertionError("envelope rewrap exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
            got, header = esdk_py.decrypt_stream(new, dst)
            if got != plaintext:
                raise AssertionError("Python decrypted other bytes from the rewrapped message")
            _, old_header = esdk_py.decrypt(old, message)
            if header.message_id == old_header.message_id:
                raise AssertionError("the rewrapped message kept the message id")
            if header.algorithm.algorithm_id != sid or header.frame_length != fl:
                raise AssertionError("suite or frame length changed")
            stored = dict(header.encryption_context)
            stored.pop("aws-crypto-public-key", None)
            if stored != ctx:
                raise AssertionError("context %r, wanted %r" % (stored, ctx))
            with open(dst, "rb") as f:
                rewrapped = f.read()
            try:
                esdk_py.decrypt(old, rewrapped)
            except Exception:  # noqa: BLE001  (any refusal is the expected outcome)
                pass
            else:
                raise AssertionError("the old keys still open the rewrapped message")
            shutil.rmtree(d)
        return check

    for i, s in enumerate(esdk_py.SUITES):
        sid = s.algorithm_id
        old_label, new_label = ("aes256", "rsa-oaep-sha256") if i % 2 == 0 else ("rsa-pkcs1", "aes128")
        fl = rng.choice([1024, 4096, 65536])
        size = rng.randint(0, 3 * MIB)
        total_bytes += size
        runner.record("rewrap suite=0x%04x %s -> %s frame=%d size=%d" % (sid, old_label, new_label, fl, size),
                      rewrap_case(sid, old_label, new_label, fl, size))

    # KMS-wrapped messages both ways through one moto server (tests/interop/esdk_kms_moto.py).
    esdk_kms_moto.run(runner, rng)

    elapsed = time.monotonic() - started
    print("interop: %.1f MiB of plaintext in %.1fs" % (total_bytes / MIB, elapsed))
    if runner.failed:
        print("interop: failed cases (files kept in %s):" % workdir)
        for t in runner.failed:
            print("  " + t)
    elif not opts.keep:
        shutil.rmtree(workdir)
    print("interop: %d passed, %d failed" % (runner.passed, len(runner.failed)))
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
