#!/usr/bin/env python3
"""Generates envelope's known-answer set, testdata/kat/, with the reference Python ESDK.

Every message under testdata/kat/messages/ was written by PyPI `aws-encryption-sdk`
(pinned in tests/interop/requirements.txt) with raw master keys only, and
tests/known_answers.rs decrypts each one with envelope. The manifest,
testdata/kat/manifest.json, lists every case: the message, the plaintext it must
decrypt to (or the error it must fail with), the keys to decrypt with, the options.

Run from the repository root, inside the venv that .ci/run sets up:

    .venv/bin/python testdata/generate.py            # regenerate everything
    .venv/bin/python testdata/generate.py --new-only # only messages not yet on disk
    .venv/bin/python testdata/generate.py --verify   # re-check the committed set with Python

Keys (testdata/kat/keys/) and plaintexts are fixed: keys are made once (AES keys
from os.urandom, RSA-2048 pairs and the raw ECDH key pairs, a sender's and a
recipient's on each of P-256, P-384 and P-521, with `openssl genpkey`) and reused when present;
plaintexts are derived from their names. Messages differ on every run, since the
ESDK draws a fresh data key, message id and IVs each time; rerunning the script
replaces them all and rewrites the manifest (with --new-only, messages already on
disk are kept as they are and only the missing ones are written; every case is
still checked against Python).

Raw ECDH messages are written through the Material Providers Library's keyrings
(tests/interop/esdk_ecdh.py): the ESDK has no raw ECDH master key.

Every case is checked against Python before it is written: positive cases must
decrypt to their plaintext with the listed keys alone, and negative cases must
fail, except where the manifest's `python` field records otherwise (Python 4.x
ignores bytes after the end of a message).

Frame length 1: the Python ESDK refuses to *encrypt* with a frame length that is
not a multiple of 16 (its own check; the format and Python's decryptor allow
1..2^31-1). The frame-length-1 messages are made by the same SDK with only that
check lifted (esdk_py.any_frame_length), and Python decrypts them unmodified.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

import esdk_py  # noqa: E402  (needs the path above)

KAT = os.path.join(ROOT, "testdata", "kat")
KEYS_DIR = os.path.join(KAT, "keys")
NAMESPACE = "envelope-kat"

# ---------------------------------------------------------------------------
# Keys


def ensure_keys():
    """Creates the fixed keys once; later runs reuse them."""
    os.makedirs(KEYS_DIR, exist_ok=True)
    for bits in (128, 192, 256):
        path = os.path.join(KEYS_DIR, "aes-%d.key" % bits)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(os.urandom(bits // 8))
    wrong = os.path.join(KEYS_DIR, "aes-256-wrong.key")
    if not os.path.exists(wrong):
        with open(wrong, "wb") as f:
            f.write(os.urandom(32))
    for stem in ("rsa-2048", "rsa-2048-wrong"):
        private = os.path.join(KEYS_DIR, stem + "-private.pem")
        public = os.path.join(KEYS_DIR, stem + "-public.pem")
        if not os.path.exists(private):
            subprocess.run(
                ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private],
                check=True,
                capture_output=True,
            )
        if not os.path.exists(public):
            subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-out", public], check=True)


ECDH_CURVES = ("p256", "p384", "p521")


def ensure_ecdh_keys():
    """A sender's and a recipient's key pair per curve: PKCS#8 PEM private keys and
    SubjectPublicKeyInfo PEM public keys, as envelope's CLI takes them."""
    for curve in ECDH_CURVES:
        for party in ("sender", "recipient"):
            stem = os.path.join(KEYS_DIR, "ecdh-%s-%s" % (curve, party))
            if not os.path.exists(stem + "-private.pem"):
                subprocess.run(
                    ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                     "ec_paramgen_curve:P-%s" % curve[1:], "-out", stem + "-private.pem"],
                    check=True, capture_output=True,
                )
            if not os.path.exists(stem + "-public.pem"):
                subprocess.run(["openssl", "pkey", "-in", stem + "-private.pem", "-pubout", "-out",
                                stem + "-public.pem"], check=True)


def read(rel):
    with open(os.path.join(KAT, rel), "rb") as f:
        return f.read()


def aes(bits, name=None, namespace=NAMESPACE, file=None):
    """A raw AES key description; `file` overrides the key bytes (the wrong-key cases)."""
    return {
        "provider": "raw-aes",
        "namespace": namespace,
        "name": name or "aes-%d" % bits,
        "key_file": "keys/" + (file or "aes-%d.key" % bits),
    }


def rsa(padding, name="rsa-2048", stem="rsa-2048"):
    """A raw RSA key description. All paddings share the key and its name, as a
    real deployment would: a keyring with the wrong padding must fail cleanly."""
    return {
        "provider": "raw-rsa",
        "namespace": NAMESPACE,
        "name": name,
        "padding": padding,
        "private_key_file": "keys/%s-private.pem" % stem,
        "public_key_file": "keys/%s-public.pem" % stem,
    }


def ecdh(scheme, curve, own="sender", peer="recipient"):
    """A raw ECDH key description. `static`: `own`'s private key and `peer`'s public
    key (a recipient decrypts with own="recipient", peer="sender"); `ephemeral`:
    `peer`'s public key; `discovery`: `own`'s private key."""
    key = "keys/ecdh-%s-%%s-%%s.pem" % curve
    desc = {"provider": "raw-ecdh", "scheme": scheme, "curve": curve}
    if scheme == "static":
        desc["sender_key_file"] = key % (own, "private")
        desc["recipient_public_key_file"] = key % (peer, "public")
    elif scheme == "ephemeral":
        desc["recipient_public_key_file"] = key % (peer, "public")
    else:
        desc["recipient_key_file"] = key % (own, "private")
    return desc


def spki_der(pem):
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def loaded(desc):
    """A manifest key description with its key material, for esdk_py."""
    out = dict(desc)
    if desc["provider"] == "raw-ecdh":
        if "sender_key_file" in desc:
            out["sender_private_pem"] = read(desc["sender_key_file"])
        if "recipient_public_key_file" in desc:
            out["recipient_public_der"] = spki_der(read(desc["recipient_public_key_file"]))
        if "recipient_key_file" in desc:
            out["recipient_private_pem"] = read(desc["recipient_key_file"])
    elif desc["provider"] == "raw-aes":
        out["key"] = read(desc["key_file"])
    else:
        out["private_pem"] = read(desc["private_key_file"])
        out["public_pem"] = read(desc["public_key_file"])
    return out


# ---------------------------------------------------------------------------
# Plaintexts

UNICODE_TEXT = (
    "Envelope known-answer text: ASCII, accents (déjà vu, naïve, Ærø), Greek (λόγος), "
    "Cyrillic (ключ), CJK (封筒の暗号化), Hebrew (מעטפה), Arabic (مغلف), emoji (🔐📦✉️), "
    "combining marks (e\u0301), and a zero-width joiner (👩\u200d💻).\n"
)


def plaintext(name, size=None):
    """Writes plaintexts/NAME once (pseudo-random bytes derived from the name) and
    returns (relative path, bytes)."""
    rel = "plaintexts/" + name
    if name == "unicode.txt":
        data = (UNICODE_TEXT * 3).encode("utf-8")
    else:
        data = hashlib.shake_256(b"envelope-kat/" + name.encode()).digest(size) if size else b""
    path = os.path.join(KAT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return rel, data


# ---------------------------------------------------------------------------
# Cases

DEFAULT_DECRYPT = {
    "commitment_policy": None,  # filled per suite: see policy_for
    "reproduced_encryption_context": {},
    "max_encrypted_data_keys": None,
    "unsigned_only": False,
}

UNICODE_CONTEXT = {
    # Keys chosen so that UTF-8 byte order (what the format sorts by) differs from
    # UTF-16 order and from code-point-naive orders: U+FF5A sorts before U+1F600
    # in UTF-8 but after it in UTF-16.
    "a": "lower-case a",
    "B": "upper-case B",
    "é": "déjà vu",
    "ｚ": "fullwidth z",
    "😀": "emoji key, emoji value 🎉",
    "中文键": "中文值",
    "עברית": "שלום עולם",
    "key with spaces": "value with spaces and = and , signs",
    "Ωmega": "\u0645\u063a\u0644\u0641",
}


def policy_for(suite_id):
    """Non-committing suites need a policy that allows decrypting them; committing
    ones are decrypted under the default, strictest policy."""
    if esdk_py.is_committing(suite_id):
        return "require-encrypt-require-decrypt"
    return "require-encrypt-allow-decrypt"


class Generator:
    def __init__(self, new_only=False):
        self.cases = []
        self.messages = {}
        self.new_only = new_only
        # With new_only, the committed manifest's notes on how kept messages were tampered.
        self.old_tamper = {}
        if new_only and os.path.exists(os.path.join(KAT, "manifest.json")):
            with open(os.path.join(KAT, "manifest.json"), encoding="utf-8") as f:
                for c in json.load(f)["cases"]:
                    if "tamper" in c:
                        self.old_tamper[c["message"]] = c["tamper"]

    def message(self, name, suite_id, keys, pt, frame_length, context, mutate=None):
        """Encrypts with Python, optionally mutates the bytes, writes messages/NAME.esdk.

        Returns a dict describing the message, shared by the cases that use it."""
        pt_rel, pt_bytes = pt
        rel = "messages/%s.esdk" % name
        path = os.path.join(KAT, rel)
        tamper = None
        if self.new_only and os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            if mutate:
                tamper = self.old_tamper[rel]
        else:
            data = esdk_py.encrypt([loaded(k) for k in keys], suite_id, frame_length, context, pt_bytes)
            if mutate:
                data, tamper = mutate(data)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        msg = {
            "message": rel,
            "plaintext": pt_rel,
            "suite": "0x%04x" % suite_id,
            "suite_name": esdk_py.SUITE_NAMES[suite_id],
            "frame_length": frame_length,
            "encryption_context": dict(context),
            "encrypt_keys": keys,
            "_bytes": data,
            "_plaintext": pt_bytes,
        }
        if tamper:
            msg["tamper"] = tamper
        if frame_length % 16:
            msg["note"] = ("Python refuses to encrypt frame lengths that are not a multiple of 16; "
                           "made with only that check lifted (esdk_py.any_frame_length)")
        self.messages[name] = msg
        return msg

    def case(self, name, description, msg, decrypt_keys=None, errors=None, part=None, python_differs=None,
             **decrypt):
        """Adds a case: decrypting `msg` with `decrypt_keys` (default: the keys it was
        encrypted with) must give its plaintext, or fail with one of `errors`.

        `python_differs` explains a known, documented divergence of the Python
        ESDK from the specification on this case; without it, Python must agree."""
        opts = dict(DEFAULT_DECRYPT)
        opts["commitment_policy"] = policy_for(int(msg["suite"], 16))
        opts.update(decrypt)
        decrypt_keys = decrypt_keys if decrypt_keys is not None else msg["encrypt_keys"]
        python = self.python_outcome(msg, decrypt_keys, opts)
        if errors is None:
            if python != "decrypted" and not python_differs:
                raise SystemExit("case %s: Python did not decrypt it: %s" % (name, python))
            expect = {"result": "plaintext"}
        else:
            if python == "decrypted" and not python_differs:
                raise SystemExit("case %s: Python decrypted a negative case" % name)
            expect = {"result": "error", "errors": errors}
            if part:
                expect["part"] = part
        case = {"name": name, "description": description}
        case.update({k: v for k, v in msg.items() if not k.startswith("_")})
        case["decrypt_keys"] = decrypt_keys
        case["decrypt"] = opts
        case["expect"] = expect
        case["python"] = python
        if python_differs:
            case["python_differs"] = python_differs
        self.cases.append(case)

    @staticmethod
    def python_outcome(msg, decrypt_keys, opts):
        """What the Python ESDK makes of the case, as a short string."""
        try:
            pt, header = esdk_py.decrypt(
                [loaded(k) for k in decrypt_keys],
                msg["_bytes"],
                policy=opts["commitment_policy"],
                max_encrypted_data_keys=opts["max_encrypted_data_keys"],
                unsigned_only=opts["unsigned_only"],
            )
        except Exception as e:  # noqa: BLE001  (any failure is the outcome)
            return "error: %s" % type(e).__name__
        # Python 4.x without the MPL takes no reproduced context: check it the
        # way an application would, against the header's pairs.
        for k, v in opts["reproduced_encryption_context"].items():
            if header.encryption_context.get(k) != v:
                return "error: reproduced encryption context does not match the header"
        if pt != msg["_plaintext"]:
            return "error: decrypted to different bytes"
        return "decrypted"


# ---------------------------------------------------------------------------
# Tampering: each returns (new bytes, a note for the manifest)


def flip(data, offset, what):
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out), {"what": what, "offset": offset, "xor": 1}


def tamper_first_frame(data):
    _, hl, al = esdk_py.header_layout(data)
    # framed body: sequence number (4) || IV (12) || content || tag
    return flip(data, hl + al + 4 + 12, "first content byte of frame 1")


def tamper_nonframed(data):
    _, hl, al = esdk_py.header_layout(data)
    # non-framed body: IV (12) || content length (8) || content || tag
    return flip(data, hl + al + 12 + 8, "first content byte of the non-framed body")


def tamper_header_tag(data):
    _, hl, al = esdk_py.header_layout(data)
    return flip(data, hl + al - 1, "last byte of the header authentication tag")


def tamper_commitment(data):
    header, hl, _ = esdk_py.header_layout(data)
    assert header.version.value == 2
    return flip(data, hl - 1, "last byte of the v2 header's key commitment")


def tamper_signature(data):
    # The footer is u16 length || DER signature; 20 bytes from the end is inside
    # the signature's s integer, so the DER stays well formed.
    return flip(data, len(data) - 20, "a byte inside the footer signature's s value")


def tamper_context(data):
    _, hl, _ = esdk_py.header_layout(data)
    at = data.index(b"tamper-me")
    assert at < hl
    out = bytearray(data)
    out[at + 8] = ord("E")
    return bytes(out), {"what": "context value 'tamper-me' -> 'tamper-mE' in the header", "offset": at + 8}


def truncate(data):
    return data[:-1], {"what": "last byte removed"}


def append_byte(data):
    return data + b"\x00", {"what": "one zero byte appended"}


# ---------------------------------------------------------------------------


def build(g):
    small = plaintext("small.bin", 1000)
    medium = plaintext("medium.bin", 9000)  # two full 4096-byte frames and a final one of 808
    empty = plaintext("empty.bin")
    text = plaintext("unicode.txt")
    p37 = plaintext("37-bytes.bin", 37)
    x128 = plaintext("512-bytes.bin", 512)  # 4 x 128
    x4096 = plaintext("12288-bytes.bin", 12288)  # 3 x 4096
    x65536 = plaintext("131072-bytes.bin", 131072)  # 2 x 65536
    over64k = plaintext("70000-bytes.bin", 70000)

    def ctx(name):
        return {"purpose": "envelope known-answer test", "case": name}

    # Every suite, AES-256 wrapping, frames of 4096 with a short final frame.
    for s in esdk_py.SUITES:
        sid = s.algorithm_id
        n = "suite-%04x" % sid
        m = g.message(n, sid, [aes(256)], medium, 4096, ctx(n))
        g.case(n, "suite %s, raw AES-256, 9000 bytes in frames of 4096" % esdk_py.SUITE_NAMES[sid], m)

    # AES-128 and AES-192 wrapping keys, with committing and legacy suites.
    for bits in (128, 192, 256):
        for sid in (0x0578, 0x0478, 0x0114):
            n = "aes-%d-suite-%04x" % (bits, sid)
            m = g.message(n, sid, [aes(bits)], small, 4096, ctx(n))
            g.case(n, "raw AES-%d wrapping key, suite 0x%04x" % (bits, sid), m)

    # Every RSA padding, with a committing and a legacy suite.
    legacy = {"pkcs1": 0x0014, "oaep-sha1": 0x0046, "oaep-sha256": 0x0178, "oaep-sha384": 0x0346,
              "oaep-sha512": 0x0378}
    for padding, lsid in legacy.items():
        for sid in (0x0578, lsid):
            n = "rsa-%s-suite-%04x" % (padding, sid)
            m = g.message(n, sid, [rsa(padding)], small, 4096, ctx(n))
            g.case(n, "raw RSA-2048 with %s padding, suite 0x%04x" % (padding, sid), m)

    # Multi-keyring messages: each key alone opens them.
    keys = [aes(256), rsa("oaep-sha256")]
    m = g.message("multi-aes-rsa", 0x0578, keys, small, 4096, ctx("multi-aes-rsa"))
    g.case("multi-aes-rsa/aes-only", "AES-256 generator + RSA OAEP-SHA256; decrypt with the AES key alone",
           m, [aes(256)])
    g.case("multi-aes-rsa/rsa-only", "AES-256 generator + RSA OAEP-SHA256; decrypt with the RSA key alone",
           m, [rsa("oaep-sha256")])
    g.case("multi-aes-rsa/both", "AES-256 generator + RSA OAEP-SHA256; decrypt with RSA then AES", m,
           [rsa("oaep-sha256"), aes(256)])

    keys = [rsa("pkcs1"), aes(128)]
    m = g.message("multi-rsa-aes", 0x0478, keys, small, 4096, ctx("multi-rsa-aes"))
    g.case("multi-rsa-aes/aes-only", "RSA PKCS#1 generator + AES-128; decrypt with the AES key alone", m,
           [aes(128)])
    g.case("multi-rsa-aes/rsa-only", "RSA PKCS#1 generator + AES-128; decrypt with the RSA key alone", m,
           [rsa("pkcs1")])

    keys = [aes(192), aes(128), rsa("oaep-sha512")]
    m = g.message("multi-three", 0x0178, keys, small, 4096, ctx("multi-three"))
    g.case("multi-three/last-only", "three keys (AES-192, AES-128, RSA OAEP-SHA512); decrypt with the last", m,
           [rsa("oaep-sha512")])
    g.case("multi-three/wrong-then-right",
           "decrypt with a multi-keyring whose first key is wrong (same name, other bytes) and second right",
           m, [aes(192, file="aes-256-wrong.key", name="aes-192"), aes(128)],
           python_differs="Python's legacy raw master key can let the wrong key's InvalidTag escape (it depends on the "
           "order it tries the EDKs in) instead of "
           "trying the next key; the keyring specification (and envelope's multi-keyring) tries the next")
    g.case("multi-three/max-edks-3", "three EDKs with max_encrypted_data_keys = 3", m,
           max_encrypted_data_keys=3)
    g.case("multi-three/max-edks-2", "three EDKs with max_encrypted_data_keys = 2 must be refused", m,
           errors=["TooManyEncryptedDataKeys"], max_encrypted_data_keys=2)

    # Empty plaintext, framed and non-framed.
    for sid in (0x0578, 0x0478, 0x0214, 0x0014):
        n = "empty-suite-%04x" % sid
        m = g.message(n, sid, [aes(256)], empty, 4096, ctx(n))
        g.case(n, "empty plaintext (a single empty final frame), suite 0x%04x" % sid, m)
    m = g.message("empty-nonframed-0478", 0x0478, [aes(256)], empty, 0, ctx("empty-nonframed"))
    g.case("empty-nonframed-0478", "empty plaintext, non-framed body", m)

    # Plaintext an exact multiple of the frame length: regular frames then an
    # empty final frame (what Python writes).
    for n, pt, fl, sid in (
        ("exact-65536x2", x65536, 65536, 0x0578),
        ("exact-4096x3", x4096, 4096, 0x0478),
        ("exact-128x4", x128, 128, 0x0178),
        ("exact-1x37", p37, 1, 0x0578),
    ):
        m = g.message(n, sid, [aes(256)], pt, fl, ctx(n))
        g.case(n, "%d bytes = %d frames of %d, then an empty final frame" % (len(pt[1]), len(pt[1]) // fl, fl),
               m)

    # Frame lengths 1, 16, 128, 4096, 65536, and non-framed.
    for n, pt, fl, sid in (
        ("frame-1-suite-0014", p37, 1, 0x0014),
        ("frame-1-suite-0478", p37, 1, 0x0478),
        ("frame-16-suite-0346", small, 16, 0x0346),
        ("frame-128-suite-0578", small, 128, 0x0578),
        ("frame-4096-suite-0578", x4096, 4096, 0x0578),
        ("frame-65536-suite-0578", over64k, 65536, 0x0578),
        ("frame-65536-short-suite-0178", small, 65536, 0x0178),
    ):
        m = g.message(n, sid, [aes(256)], pt, fl, ctx(n))
        g.case(n, "frame length %d, %d-byte plaintext, suite 0x%04x" % (fl, len(pt[1]), sid), m)
    for sid in (0x0578, 0x0014, 0x0378):
        n = "nonframed-suite-%04x" % sid
        m = g.message(n, sid, [aes(256)], medium, 0, ctx(n))
        g.case(n, "non-framed body (decrypt only in envelope), suite 0x%04x" % sid, m)

    # Encryption contexts: empty (with and without the signing key pair), unicode,
    # many pairs; a unicode key namespace and name.
    for sid in (0x0478, 0x0014, 0x0578):
        n = "context-empty-suite-%04x" % sid
        m = g.message(n, sid, [aes(256)], small, 4096, {})
        g.case(n, "empty encryption context, suite 0x%04x" % sid, m)
    for sid in (0x0578, 0x0078, 0x0478):
        n = "context-unicode-suite-%04x" % sid
        m = g.message(n, sid, [aes(256), rsa("oaep-sha1")], text, 128, UNICODE_CONTEXT)
        g.case(n + "/aes", "unicode context (sorted by UTF-8 bytes), AES keyring, suite 0x%04x" % sid, m,
               [aes(256)])
        g.case(n + "/rsa", "unicode context, RSA keyring, suite 0x%04x" % sid, m, [rsa("oaep-sha1")])
    many = {"key-%03d" % i: "value-%d" % (i * i) for i in range(200)}
    m = g.message("context-200-pairs", 0x0578, [aes(128)], small, 4096, many)
    g.case("context-200-pairs", "200 context pairs", m)
    uni_key = aes(256, name="clé-🔑", namespace="envelope-kat-ñ")
    m = g.message("unicode-key-name", 0x0578, [uni_key], text, 4096, ctx("unicode-key-name"))
    g.case("unicode-key-name", "raw AES key with a non-ASCII namespace and name", m)

    # Reproduced (caller-supplied) context on decrypt.
    m = g.message("reproduced-context", 0x0478, [aes(256)], small, 4096, UNICODE_CONTEXT)
    g.case("reproduced-context/match", "decrypt with a reproduced context equal to part of the header's", m,
           reproduced_encryption_context={"a": "lower-case a", "😀": "emoji key, emoji value 🎉"})
    g.case("reproduced-context/mismatch", "a reproduced context value that differs from the header's", m,
           errors=["EncryptionContext"], reproduced_encryption_context={"a": "lower-case A"})

    # Negative cases.
    m = g.message("tampered-frame-0478", 0x0478, [aes(256)], medium, 4096, ctx("t"), tamper_first_frame)
    g.case("tampered-frame-0478", "one bit flipped in frame 1's ciphertext", m, errors=["Authentication"],
           part="frame 1")
    m = g.message("tampered-frame-0578", 0x0578, [aes(256)], medium, 4096, ctx("t"), tamper_first_frame)
    g.case("tampered-frame-0578", "one bit flipped in frame 1's ciphertext, signed suite", m,
           errors=["Authentication"], part="frame 1")
    m = g.message("tampered-nonframed-0014", 0x0014, [aes(256)], medium, 0, ctx("t"), tamper_nonframed)
    g.case("tampered-nonframed-0014", "one bit flipped in the non-framed ciphertext", m,
           errors=["Authentication"], part="body")
    m = g.message("tampered-header-tag-0178", 0x0178, [aes(256)], small, 4096, ctx("t"), tamper_header_tag)
    g.case("tampered-header-tag-0178", "one bit flipped in the header authentication tag", m,
           errors=["Authentication"], part="header authentication")
    m = g.message("tampered-commitment-0478", 0x0478, [aes(256)], small, 4096, ctx("t"), tamper_commitment)
    g.case("tampered-commitment-0478", "one bit flipped in the key commitment", m, errors=["Commitment"])
    m = g.message("tampered-signature-0578", 0x0578, [aes(256)], small, 4096, ctx("t"), tamper_signature)
    g.case("tampered-signature-0578", "one bit flipped inside the footer signature", m, errors=["Signature"])
    m = g.message("tampered-signature-0214", 0x0214, [aes(256)], small, 4096, ctx("t"), tamper_signature)
    g.case("tampered-signature-0214", "one bit flipped inside the footer signature (P-256)", m,
           errors=["Signature"])
    tctx = {"purpose": "tamper-me"}
    m = g.message("tampered-context-rsa-0478", 0x0478, [rsa("oaep-sha256")], small, 4096, tctx, tamper_context)
    g.case("tampered-context-rsa-0478",
           "a context value changed in the header; RSA unwraps the key, the header tag must fail", m,
           errors=["Authentication"], part="header authentication")
    m = g.message("tampered-context-aes-0478", 0x0478, [aes(256)], small, 4096, tctx, tamper_context)
    g.case("tampered-context-aes-0478",
           "a context value changed in the header; the AES key's wrapping AAD no longer matches", m,
           errors=["NoDataKey"])
    m = g.message("truncated-0478", 0x0478, [aes(256)], small, 4096, ctx("t"), truncate)
    g.case("truncated-0478", "the last byte of the message removed", m, errors=["Truncated"])
    m = g.message("truncated-0578", 0x0578, [aes(256)], small, 4096, ctx("t"), truncate)
    g.case("truncated-0578", "the last byte of the signature removed", m, errors=["Truncated"])
    m = g.message("trailing-byte-0478", 0x0478, [aes(256)], small, 4096, ctx("t"), append_byte)
    g.case("trailing-byte-0478", "a byte after the end of the message (Python 4.x ignores it)", m,
           errors=["TrailingData"],
           python_differs="Python 4.x stops reading at the end of the message and ignores what follows")

    build_ecdh(g, small, text, ctx)

    m = g.messages["suite-0578"]
    g.case("wrong-aes-key", "an AES key with the right namespace and name but other bytes", m,
           [aes(256, file="aes-256-wrong.key")], errors=["NoDataKey"])
    g.case("wrong-aes-name", "the right AES key bytes under another key name", m, [aes(256, name="aes-256-other")],
           errors=["NoDataKey"])
    g.case("wrong-aes-namespace", "the right AES key bytes under another namespace", m,
           [aes(256, namespace="envelope-kat-other")], errors=["NoDataKey"])
    m = g.messages["rsa-pkcs1-suite-0578"]
    g.case("wrong-rsa-key", "another RSA private key under the same name", m,
           [rsa("pkcs1", stem="rsa-2048-wrong")], errors=["NoDataKey"])
    g.case("wrong-rsa-padding", "a PKCS#1-wrapped data key offered to an OAEP-SHA256 keyring", m,
           [rsa("oaep-sha256")], errors=["NoDataKey"])
    m = g.messages["suite-0078"]
    g.case("policy-refuses-0078", "a non-committing message under require-encrypt-require-decrypt", m,
           errors=["CommitmentPolicy"], commitment_policy="require-encrypt-require-decrypt")
    m = g.messages["suite-0578"]
    g.case("unsigned-only-refuses-0578", "a signed message when only unsigned ones are accepted", m,
           errors=["SignedMessageRefused"], unsigned_only=True)
    m = g.messages["suite-0478"]
    g.case("unsigned-only-accepts-0478", "an unsigned message when only unsigned ones are accepted", m,
           unsigned_only=True)


def build_ecdh(g, small, text, ctx):
    """Raw ECDH: per curve, a static sender's message opened by the sender's own
    keyring, by the recipient's static keyring and by the recipient's discovery
    keyring, and an ephemeral sender's message opened by discovery; suites with
    and without signing (whose aws-crypto-public-key is in the KDF input)."""
    suites = {"p256": (0x0578, 0x0214), "p384": (0x0478, 0x0346), "p521": (0x0378, 0x0078)}
    for curve in ECDH_CURVES:
        static_sid, eph_sid = suites[curve]
        n = "ecdh-%s-static-suite-%04x" % (curve, static_sid)
        m = g.message(n, static_sid, [ecdh("static", curve)], small, 4096, ctx(n))
        g.case(n + "/sender", "raw ECDH %s, static sender; the sender's own static keyring decrypts" % curve, m,
               [ecdh("static", curve)])
        g.case(n + "/recipient", "raw ECDH %s, static sender; the recipient's static keyring (its private "
               "key, the sender's public key) decrypts" % curve, m,
               [ecdh("static", curve, own="recipient", peer="sender")])
        g.case(n + "/discovery", "raw ECDH %s, static sender; the recipient's discovery keyring decrypts"
               % curve, m, [ecdh("discovery", curve, own="recipient")])
        n = "ecdh-%s-ephemeral-suite-%04x" % (curve, eph_sid)
        m = g.message(n, eph_sid, [ecdh("ephemeral", curve)], small, 4096, ctx(n))
        g.case(n + "/discovery", "raw ECDH %s, ephemeral sender; the recipient's discovery keyring decrypts"
               % curve, m, [ecdh("discovery", curve, own="recipient")])
        g.case(n + "/wrong-key", "raw ECDH %s, ephemeral sender; another private key finds no EDK" % curve, m,
               [ecdh("discovery", curve, own="sender")], errors=["NoDataKey"])
    m = g.message("ecdh-context-empty", 0x0478, [ecdh("ephemeral", "p521")], small, 4096, {})
    g.case("ecdh-context-empty", "raw ECDH P-521, empty encryption context (nothing after FixedInfo's version)",
           m, [ecdh("discovery", "p521", own="recipient")])
    m = g.message("ecdh-context-unicode", 0x0578, [ecdh("static", "p384")], text, 128, UNICODE_CONTEXT)
    g.case("ecdh-context-unicode", "raw ECDH P-384, unicode encryption context in FixedInfo", m,
           [ecdh("discovery", "p384", own="recipient")])
    keys = [ecdh("ephemeral", "p256"), aes(256)]
    m = g.message("ecdh-multi-aes", 0x0578, keys, small, 4096, ctx("ecdh-multi-aes"))
    g.case("ecdh-multi-aes/ecdh-only", "raw ECDH P-256 generator + AES-256 (MPL keyrings); the ECDH key alone",
           m, [ecdh("discovery", "p256", own="recipient")])
    g.case("ecdh-multi-aes/aes-only", "raw ECDH P-256 generator + AES-256 (MPL keyrings); the AES key alone",
           m, [aes(256)])
    g.case("ecdh-multi-aes/both", "raw ECDH P-256 generator + AES-256; AES then ECDH discovery", m,
           [aes(256), ecdh("discovery", "p256", own="recipient")])


def verify():
    """Checks the committed set against Python without regenerating it: every
    case's message must still get the outcome recorded in the manifest."""
    with open(os.path.join(KAT, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    bad = 0
    for case in manifest["cases"]:
        msg = {"_bytes": read(case["message"]), "_plaintext": read(case["plaintext"])}
        got = Generator.python_outcome(msg, case["decrypt_keys"], case["decrypt"])
        positive = case["expect"]["result"] == "plaintext"
        if case.get("python_differs"):
            ok = True  # a documented divergence; the outcome may vary (see the case)
        else:
            ok = got == "decrypted" if positive else got != "decrypted"
        if not ok:
            bad += 1
            print("MISMATCH %s: Python now says %r, expected %s" % (case["name"], got, case["expect"]))
    print("kat-python: %d passed, %d failed" % (len(manifest["cases"]) - bad, bad))
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--verify"]:
        sys.exit(verify())
    new_only = sys.argv[1:] == ["--new-only"]
    if sys.argv[1:] and not new_only:
        raise SystemExit("usage: generate.py [--verify | --new-only]")
    ensure_keys()
    ensure_ecdh_keys()
    for sub in ("plaintexts",) if new_only else ("messages", "plaintexts"):
        shutil.rmtree(os.path.join(KAT, sub), ignore_errors=True)
    g = Generator(new_only)
    build(g)
    if new_only:
        for f in os.listdir(os.path.join(KAT, "messages")):
            if f[:-len(".esdk")] not in g.messages:
                os.remove(os.path.join(KAT, "messages", f))
    import aws_encryption_sdk  # noqa: E402

    manifest = {
        "description": "envelope known-answer set: messages written by the Python ESDK, with the "
        "plaintext each must decrypt to or the error it must fail with. Paths are relative to "
        "this file. Made by testdata/generate.py; see its docstring.",
        "generator": {
            "script": "testdata/generate.py",
            "aws-encryption-sdk": aws_encryption_sdk.__version__,
            "python": sys.version.split()[0],
        },
        "fields": {
            "frame_length": "0 means a non-framed body",
            "encrypt_keys": "the keys Python encrypted with; the first generated the data key",
            "decrypt_keys": "the keys to decrypt with: one keyring, or a multi-keyring of these in order",
            "decrypt": "decrypt options; commitment_policy uses the CLI's names",
            "expect": "result 'plaintext' (must equal the plaintext file) or 'error' with the "
            "acceptable envelope::Error variants and, for Authentication, the part",
            "python": "what the Python ESDK made of the same case when it was generated",
        },
        "cases": g.cases,
    }
    with open(os.path.join(KAT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    total = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(KAT) for f in fs
    )
    print("wrote %d cases (%d messages), %d bytes under testdata/kat" % (len(g.cases), len(g.messages), total))


if __name__ == "__main__":
    main()
