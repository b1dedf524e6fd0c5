"""Raw ECDH keyrings of the reference Python implementation, for the known-answer
generator and the live interop test.

PyPI `aws-encryption-sdk` 4.x writes raw ECDH EDKs through the AWS Cryptographic
Material Providers Library (PyPI `aws-cryptographic-material-providers`), which
works with keyrings rather than master key providers. A message that uses a raw
ECDH key therefore goes through MPL keyrings only: the ECDH keyring, and for a
multi-key message MPL raw AES keyrings beside it (the same EDKs as the raw AES
master keys of esdk_py). Key descriptions, as in esdk_py:

    {"provider": "raw-ecdh", "scheme": "static", "curve": "p256",
     "sender_private_pem": bytes, "recipient_public_der": bytes}
    {"provider": "raw-ecdh", "scheme": "ephemeral", "curve": ..., "recipient_public_der": bytes}
    {"provider": "raw-ecdh", "scheme": "discovery", "curve": ..., "recipient_private_pem": bytes}
    {"provider": "raw-aes", "namespace": NS, "name": NAME, "key": bytes}

Private keys are PEM PKCS#8, public keys DER SubjectPublicKeyInfo, as the MPL takes them.
"""

import io

import aws_encryption_sdk
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    AesWrappingAlg,
    CreateMultiKeyringInput,
    CreateRawAesKeyringInput,
    CreateRawEcdhKeyringInput,
    EphemeralPrivateKeyToStaticPublicKeyInput,
    PublicKeyDiscoveryInput,
    RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey,
    RawEcdhStaticConfigurationsPublicKeyDiscovery,
    RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey,
    RawPrivateKeyToStaticPublicKeyInput,
)
from aws_cryptography_primitives.smithygenerated.aws_cryptography_primitives.models import ECDHCurveSpec

import esdk_py

CURVES = {
    "p256": ECDHCurveSpec.ECC_NIST_P256,
    "p384": ECDHCurveSpec.ECC_NIST_P384,
    "p521": ECDHCurveSpec.ECC_NIST_P521,
}

AES_ALGS = {
    16: AesWrappingAlg.ALG_AES128_GCM_IV12_TAG16,
    24: AesWrappingAlg.ALG_AES192_GCM_IV12_TAG16,
    32: AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
}

_MPL = None


def mpl():
    global _MPL
    if _MPL is None:
        _MPL = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    return _MPL


def uses_mpl(descs):
    """Whether a key list needs MPL keyrings (it holds a raw ECDH key)."""
    return any(d["provider"] == "raw-ecdh" for d in descs)


def keyring(desc):
    """The MPL keyring for one key description."""
    if desc["provider"] == "raw-aes":
        return mpl().create_raw_aes_keyring(CreateRawAesKeyringInput(
            key_namespace=desc["namespace"], key_name=desc["name"], wrapping_key=desc["key"],
            wrapping_alg=AES_ALGS[len(desc["key"])]))
    if desc["provider"] != "raw-ecdh":
        raise ValueError("no MPL keyring for provider %r here" % desc["provider"])
    scheme = desc["scheme"]
    if scheme == "static":
        agreement = RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey(RawPrivateKeyToStaticPublicKeyInput(
            sender_static_private_key=desc["sender_private_pem"], recipient_public_key=desc["recipient_public_der"]))
    elif scheme == "ephemeral":
        agreement = RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
            EphemeralPrivateKeyToStaticPublicKeyInput(recipient_public_key=desc["recipient_public_der"]))
    elif scheme == "discovery":
        agreement = RawEcdhStaticConfigurationsPublicKeyDiscovery(
            PublicKeyDiscoveryInput(recipient_static_private_key=desc["recipient_private_pem"]))
    else:
        raise ValueError("unknown raw ECDH scheme %r" % scheme)
    return mpl().create_raw_ecdh_keyring(CreateRawEcdhKeyringInput(
        curve_spec=CURVES[desc["curve"]], key_agreement_scheme=agreement))


def keyrings(descs):
    """One keyring, or a multi-keyring whose first member generates."""
    rings = [keyring(d) for d in descs]
    if len(rings) == 1:
        return rings[0]
    return mpl().create_multi_keyring(CreateMultiKeyringInput(generator=rings[0], child_keyrings=rings[1:]))


def encrypt(descs, suite_id, frame_length, context, plaintext):
    client = esdk_py.client_for(suite_id)
    with esdk_py.any_frame_length():
        message, _header = client.encrypt(
            source=plaintext, keyring=keyrings(descs), encryption_context=dict(context),
            algorithm=esdk_py.suite(suite_id), frame_length=frame_length)
    return message


def decrypt(descs, message, policy="require-encrypt-allow-decrypt", max_encrypted_data_keys=None,
            unsigned_only=False):
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=esdk_py.POLICIES[policy], max_encrypted_data_keys=max_encrypted_data_keys)
    mode = "decrypt-unsigned" if unsigned_only else "decrypt"
    decryptor = client.stream(mode=mode, source=io.BytesIO(message), keyring=keyrings(descs))
    plaintext = decryptor.read()
    header = decryptor.header
    decryptor.close()
    return plaintext, header


def decrypt_stream(descs, path):
    client = esdk_py.client_for(None, decrypt=True)
    out = io.BytesIO()
    with open(path, "rb") as src, client.stream(mode="d", source=src, keyring=keyrings(descs)) as decryptor:
        for block in decryptor:
            out.write(block)
        header = decryptor.header
    return out.getvalue(), header
