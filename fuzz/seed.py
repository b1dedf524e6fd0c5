#!/usr/bin/env python3
"""Seeds the fuzz corpora (fuzz/corpus/<target>/) from the repository's
known-answer messages (testdata/kat/messages) and, when present, the official
ESDK vectors (../shared/vectors/*/ciphertexts and ../shared/vectors-ecdh/*/ciphertexts,
relative to the repository root, or $ENVELOPE_SHARED_DIR/vectors and vectors-ecdh).

Nothing here is committed: corpora are rebuilt by running this script, which
is idempotent (files are named by content hash). Standard library only.

    python3 fuzz/seed.py
"""
import glob
import hashlib
import os
import struct
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
# Seeds larger than this slow every execution down for little extra coverage.
MAX_MESSAGE = 16 * 1024
HEADER_PREFIX = 8 * 1024

# suite id -> (format version, committing)
SUITES = {
    0x0014: (1, False), 0x0046: (1, False), 0x0078: (1, False),
    0x0114: (1, False), 0x0146: (1, False), 0x0178: (1, False),
    0x0214: (1, False), 0x0346: (1, False), 0x0378: (1, False),
    0x0478: (2, True), 0x0578: (2, True),
}


def put(target, data):
    d = os.path.join(FUZZ, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(d, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def header_blocks(msg):
    """Returns (encryption context block, EDK list bytes) of a message header, or None."""
    try:
        version = msg[0]
        pos = 2 if version == 1 else 1
        (suite,) = struct.unpack_from(">H", msg, pos)
        if SUITES.get(suite, (None,))[0] != version:
            return None
        pos += 2 + (16 if version == 1 else 32)
        (aad_len,) = struct.unpack_from(">H", msg, pos)
        pos += 2
        aad = msg[pos:pos + aad_len]
        pos += aad_len
        start = pos
        (count,) = struct.unpack_from(">H", msg, pos)
        pos += 2
        for _ in range(count):
            for _field in range(3):
                (n,) = struct.unpack_from(">H", msg, pos)
                pos += 2 + n
        if pos > len(msg):
            return None
        return aad, msg[start:pos]
    except (IndexError, struct.error):
        return None


def edk_fields(edk_list):
    """(provider id, provider info, ciphertext) of each EDK in an EDK list."""
    (count,) = struct.unpack_from(">H", edk_list, 0)
    pos = 2
    for _ in range(count):
        fields = []
        for _field in range(3):
            (n,) = struct.unpack_from(">H", edk_list, pos)
            fields.append(edk_list[pos + 2:pos + 2 + n])
            pos += 2 + n
        yield tuple(fields)


def messages():
    paths = sorted(glob.glob(os.path.join(ROOT, "testdata", "kat", "messages", "*.esdk")))
    # Located as the Rust tests locate it (tests/support/shared.rs).
    shared_dir = os.environ.get("ENVELOPE_SHARED_DIR") or os.path.join(os.path.dirname(ROOT), "shared")
    for name in ("vectors", "vectors-ecdh"):
        shared = os.path.join(shared_dir, name)
        if os.path.isdir(shared):
            paths += sorted(glob.glob(os.path.join(shared, "*", "ciphertexts", "*")))
        else:
            print(f"seed.py: {shared} is absent: not seeding from it")
    for p in paths:
        if os.path.isfile(p):
            with open(p, "rb") as f:
                yield f.read()


def main():
    n = 0
    for msg in messages():
        n += 1
        put("header", msg[:HEADER_PREFIX])
        if len(msg) <= MAX_MESSAGE:
            # The decrypt target reads one chunking-seed byte first.
            put("decrypt", b"\x00" + msg)
            put("decrypt", b"\x5a" + msg)
        blocks = header_blocks(msg)
        if blocks:
            aad, edks = blocks
            put("context", aad)
            # The edk_list target reads a maximum-count byte first (0: none).
            put("edk_list", b"\x00" + edks)
            put("edk_list", b"\x01" + edks)
            for provider_id, info, ciphertext in edk_fields(edks):
                if provider_id == b"raw-ecdh" and len(ciphertext) < 256:
                    # ecdh_provider_info: a byte giving the ciphertext's length, the info, the ciphertext.
                    put("ecdh_provider_info", bytes([len(ciphertext)]) + info + ciphertext)
                    put("ecdh_provider_info", b"\x00" + info)
    # kms_blob takes structured input (arbitrary::Arbitrary); a few byte
    # patterns reach each blob variant, the fuzzer does the rest.
    for i in range(4):
        put("kms_blob", bytes([i]) + bytes(range(1, 120)))
        put("kms_blob", bytes([i, 0, 0, 1, 0]) + b"\x01" * 80)
    # ecdh_provider_info also gets well-formed infos of made-up points, so that
    # the fuzzer starts at every curve's layout without the vectors.
    for r in (33, 49, 67):
        info = b"\x01" + struct.pack(">I", r) + b"\x02" + bytes(range(1, r)) + struct.pack(">I", r) + b"\x03" * r
        put("ecdh_provider_info", b"\x00" + info)
        # kms_request is structured too: a target choice, then header and body bytes.
    for i, body in enumerate([b"{}", b'{"KeyId":"alias/fuzz","Plaintext":"AQID"}',
                              b'{"KeyId":"alias/fuzz","NumberOfBytes":32}', b'{"CiphertextBlob":"AQID"}']):
        put("kms_request", bytes([0, i * 5]) + b"\x01\x1aapplication/x-amz-json-1.1" + body)
    for t in ["header", "decrypt", "context", "edk_list", "kms_blob", "ecdh_provider_info", "kms_request"]:
        d = os.path.join(FUZZ, "corpus", t)
        print(f"seed.py: corpus/{t}: {len(os.listdir(d))} files")
    print(f"seed.py: {n} messages read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
