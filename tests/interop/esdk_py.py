"""Helpers shared by testdata/generate.py and tests/interop/interop.py.

They wrap the reference Python implementation (PyPI `aws-encryption-sdk` 4.x) with
raw master keys only, described by the same small dicts that the known-answer
manifest and the envelope CLI use:

    {"provider": "raw-aes", "namespace": NS, "name": NAME, "key": bytes}
    {"provider": "raw-rsa", "namespace": NS, "name": NAME, "padding": PADDING,
     "private_pem": bytes or None, "public_pem": bytes or None}

A key list that holds a raw ECDH key ({"provider": "raw-ecdh", ...}) goes to
esdk_ecdh instead, which uses the Material Providers Library's keyrings.
"""

import contextlib
import io

import aws_encryption_sdk
import aws_encryption_sdk.internal.utils as esdk_utils
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_header
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.key_providers.raw import RawMasterKey

# CLI / manifest padding names -> the Python ESDK's wrapping algorithms.
RSA_PADDINGS = {
    "pkcs1": WrappingAlgorithm.RSA_PKCS1,
    "oaep-sha1": WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    "oaep-sha256": WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    "oaep-sha384": WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    "oaep-sha512": WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
}

AES_WRAPPING = {
    16: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    24: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    32: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}

# All eleven suites, in id order.
SUITES = sorted(Algorithm, key=lambda a: a.algorithm_id)

# The ESDK's names for the suites, as the envelope CLI and the Rust crate spell them
# (the Python enum names the non-KDF suites without the `_NO_KDF` suffix).
SUITE_NAMES = {
    0x0014: "AES_128_GCM_IV12_TAG16_NO_KDF",
    0x0046: "AES_192_GCM_IV12_TAG16_NO_KDF",
    0x0078: "AES_256_GCM_IV12_TAG16_NO_KDF",
    0x0114: "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
    0x0146: "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
    0x0178: "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
    0x0214: "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
    0x0346: "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    0x0378: "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    0x0478: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
    0x0578: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
}


def suite(suite_id):
    """The Python ESDK's Algorithm for a two-byte suite id."""
    return Algorithm.get_by_id(suite_id)


def is_committing(suite_id):
    return suite(suite_id).is_committing()


def is_signing(suite_id):
    return suite(suite_id).signing_algorithm_info is not None


class KeySet(MasterKeyProvider):
    """A plain container of master keys: the first generates the data key, every
    member wraps it, and decryption tries each member (the multi-keyring's rules).

    A lone RawMasterKey ignores providers added to it when encrypting, hence this.
    """

    provider_id = "envelope-interop-keyset"
    _config_class = MasterKeyProviderConfig

    def _new_master_key(self, key_id):
        raise NotImplementedError("a KeySet only holds the keys it was given")


def master_key(desc, for_encrypt):
    """A RawMasterKey for one key description."""
    if desc["provider"] == "raw-aes":
        key = desc["key"]
        wrapping = WrappingKey(
            wrapping_algorithm=AES_WRAPPING[len(key)],
            wrapping_key=key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )
    elif desc["provider"] == "raw-rsa":
        # Encrypt with the public key when there is one, as a sender would;
        # decrypt needs the private key.
        if for_encrypt and desc.get("public_pem"):
            pem, kind = desc["public_pem"], EncryptionKeyType.PUBLIC
        else:
            pem, kind = desc["private_pem"], EncryptionKeyType.PRIVATE
        wrapping = WrappingKey(
            wrapping_algorithm=RSA_PADDINGS[desc["padding"]], wrapping_key=pem, wrapping_key_type=kind
        )
    else:
        raise ValueError("unknown provider %r" % desc["provider"])
    return RawMasterKey(
        provider_id=desc["namespace"], key_id=desc["name"].encode("utf-8"), wrapping_key=wrapping
    )


def key_provider(descs, for_encrypt):
    keys = KeySet()
    for desc in descs:
        keys.add_master_key_provider(master_key(desc, for_encrypt))
    return keys


@contextlib.contextmanager
def any_frame_length():
    """Lets the Python encryptor use frame lengths that are not a multiple of 16.

    The Python ESDK refuses to *encrypt* with a frame length that is not a
    multiple of the AES block size (a check of its own; the message format and
    every decryptor, Python's included, allow 1..2^31-1). Only that check is
    lifted here; framing, sealing and serialization are the SDK's own code.
    """
    original = esdk_utils.validate_frame_length

    def validate(frame_length, algorithm):
        if frame_length % algorithm.encryption_algorithm.block_size == 0:
            return original(frame_length=frame_length, algorithm=algorithm)
        if not 0 < frame_length <= 2**31 - 1:
            raise ValueError("frame length out of range: %d" % frame_length)
        return None

    esdk_utils.validate_frame_length = validate
    try:
        yield
    finally:
        esdk_utils.validate_frame_length = original


def client_for(suite_id, decrypt=False):
    if decrypt:
        policy = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    elif is_committing(suite_id):
        policy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    else:
        policy = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)


def _ecdh(keys):
    """esdk_ecdh, when `keys` needs it (imported late: it needs the MPL)."""
    if any(k["provider"] == "raw-ecdh" for k in keys):
        import esdk_ecdh  # noqa: PLC0415

        return esdk_ecdh
    return None


def encrypt(keys, suite_id, frame_length, context, plaintext):
    """Encrypts with the Python ESDK; returns the message bytes."""
    if _ecdh(keys):
        return _ecdh(keys).encrypt(keys, suite_id, frame_length, context, plaintext)
    client = client_for(suite_id)
    provider = key_provider(keys, for_encrypt=True)
    with any_frame_length():
        message, _header = client.encrypt(
            source=plaintext,
            key_provider=provider,
            encryption_context=dict(context),
            algorithm=suite(suite_id),
            frame_length=frame_length,
        )
    return message


POLICIES = {
    "forbid-encrypt-allow-decrypt": CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
    "require-encrypt-allow-decrypt": CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
    "require-encrypt-require-decrypt": CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
}


def decrypt(keys, message, policy="require-encrypt-allow-decrypt", max_encrypted_data_keys=None,
            unsigned_only=False):
    """Decrypts with the Python ESDK; returns (plaintext, header)."""
    if _ecdh(keys):
        return _ecdh(keys).decrypt(keys, message, policy, max_encrypted_data_keys, unsigned_only)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=POLICIES[policy], max_encrypted_data_keys=max_encrypted_data_keys
    )
    provider = key_provider(keys, for_encrypt=False)
    mode = "decrypt-unsigned" if unsigned_only else "decrypt"
    # No `with`: on failure its exit would add a second, misleading error
    # ("Footer not read") to the log.
    decryptor = client.stream(mode=mode, source=io.BytesIO(message), key_provider=provider)
    plaintext = decryptor.read()
    header = decryptor.header
    decryptor.close()
    return plaintext, header


def decrypt_stream(keys, path, chunk=1 << 20):
    """Decrypts a message file with the Python streaming API; returns (plaintext, header)."""
    if _ecdh(keys):
        return _ecdh(keys).decrypt_stream(keys, path)
    client = client_for(None, decrypt=True)
    out = io.BytesIO()
    with open(path, "rb") as src, client.stream(
        mode="d", source=src, key_provider=key_provider(keys, for_encrypt=False)
    ) as decryptor:
        for block in decryptor:
            out.write(block)
        header = decryptor.header
    return out.getvalue(), header


def header_layout(message):
    """(header, header_length, auth_length) of a message, parsed by the Python ESDK.

    header_length counts the header body; auth_length the header authentication
    that follows it (IV + tag in format v1, the tag alone in v2).
    """
    header, raw = deserialize_header(io.BytesIO(message))
    auth_len = 16 if header.version.value == 2 else 12 + 16
    return header, len(raw), auth_len
