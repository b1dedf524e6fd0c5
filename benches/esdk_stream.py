#!/usr/bin/env python3
"""Encrypts or decrypts a file with the Python ESDK's streaming API, for
benches/compare.sh (the reference envelope is measured against).

    esdk_stream.py encrypt|decrypt --key FILE --namespace NS --name NAME \\
        [--suite 0x0478] [--frame-length 65536] INPUT OUTPUT

The key file holds a raw 256-bit AES wrapping key, used as a RawMasterKey with
the given provider id (namespace) and key id (name), the raw AES keyring of the
other ESDKs and of envelope. Data moves in 1 MiB reads, as envelope's does.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))

import esdk_py  # noqa: E402  (needs the path above)

CHUNK = 1 << 20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["encrypt", "decrypt"])
    ap.add_argument("--key", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--suite", default="0x0478")
    ap.add_argument("--frame-length", type=int, default=65536)
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args()

    with open(a.key, "rb") as f:
        key = f.read()
    desc = {"provider": "raw-aes", "namespace": a.namespace, "name": a.name, "key": key}
    suite_id = int(a.suite, 16)
    encrypting = a.mode == "encrypt"
    client = esdk_py.client_for(suite_id, decrypt=not encrypting)
    provider = esdk_py.key_provider([desc], for_encrypt=encrypting)
    kwargs = {"algorithm": esdk_py.suite(suite_id), "frame_length": a.frame_length} if encrypting else {}
    with open(a.input, "rb") as src, open(a.output, "wb") as dst, client.stream(
        mode="e" if encrypting else "d", source=src, key_provider=provider, **kwargs
    ) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            dst.write(chunk)


if __name__ == "__main__":
    main()
