//! RSA encryption (PKCS#1 v1.5 and OAEP), key-pair generation, and strict
//! PEM decoding of RSA keys.
//!
//! The ESDK's raw RSA keyring wraps a data key with plain RSA encryption, and
//! the KMS core's asymmetric keys encrypt with bare RSAES-OAEP, so this module
//! only adapts aws-lc-rs: a key is loaded (from PEM or DER) together with its
//! padding, and decryption writes into zeroized buffers. aws-lc-rs accepts
//! moduli of 2048 to 8192 bits.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    PublicKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::Secret;

/// The RSA padding scheme of a raw RSA keyring. OAEP uses the same hash for
/// MGF1 and an empty label, as every ESDK does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// PKCS#1 v1.5 encryption padding.
    Pkcs1,
    /// OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256.
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    OaepSha512,
}

impl RsaPadding {
    /// Every padding, in the order the CLI lists them.
    pub const ALL: [RsaPadding; 5] = [
        RsaPadding::Pkcs1,
        RsaPadding::OaepSha1,
        RsaPadding::OaepSha256,
        RsaPadding::OaepSha384,
        RsaPadding::OaepSha512,
    ];

    /// The CLI name: `pkcs1`, `oaep-sha1`, `oaep-sha256`, `oaep-sha384` or `oaep-sha512`.
    pub fn name(self) -> &'static str {
        match self {
            RsaPadding::Pkcs1 => "pkcs1",
            RsaPadding::OaepSha1 => "oaep-sha1",
            RsaPadding::OaepSha256 => "oaep-sha256",
            RsaPadding::OaepSha384 => "oaep-sha384",
            RsaPadding::OaepSha512 => "oaep-sha512",
        }
    }

    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            RsaPadding::Pkcs1 => None,
            RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
            RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
        }
    }
}

impl fmt::Display for RsaPadding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RsaPadding {
    type Err = CryptoError;

    /// Parses a CLI name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        RsaPadding::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                CryptoError::Unsupported(format!(
                    "unknown RSA padding '{s}' (expected pkcs1, oaep-sha1, oaep-sha256, oaep-sha384 or oaep-sha512)"
                ))
            })
    }
}

enum Encrypter {
    Pkcs1(Pkcs1PublicEncryptingKey),
    Oaep(OaepPublicEncryptingKey, &'static OaepAlgorithm),
}

/// An RSA public key bound to one padding, for wrapping data keys.
pub struct RsaPublicKey {
    enc: Encrypter,
    bits: usize,
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

impl RsaPublicKey {
    /// Loads a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) RSA key.
    pub fn from_pem(pem: &[u8], padding: RsaPadding) -> Result<Self> {
        Self::from_der(&pem_to_der(pem, "PUBLIC KEY")?, padding)
    }

    /// Loads a DER SubjectPublicKeyInfo RSA key.
    pub fn from_der(der: &[u8], padding: RsaPadding) -> Result<Self> {
        let key = PublicEncryptingKey::from_der(der)
            .map_err(|e| CryptoError::Key(format!("the public key is not a usable RSA key: {e}")))?;
        Self::with_padding(key, padding)
    }

    fn with_padding(key: PublicEncryptingKey, padding: RsaPadding) -> Result<Self> {
        let bits = key.key_size_bits();
        let enc = match padding.oaep() {
            None => Encrypter::Pkcs1(
                Pkcs1PublicEncryptingKey::new(key)
                    .map_err(|_| CryptoError::Backend("RSA key setup failed"))?,
            ),
            Some(alg) => Encrypter::Oaep(
                OaepPublicEncryptingKey::new(key)
                    .map_err(|_| CryptoError::Backend("RSA key setup failed"))?,
                alg,
            ),
        };
        Ok(RsaPublicKey { enc, bits })
    }

    /// Encrypts `plaintext`; the result is as long as the modulus.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let too_long = |max: usize| {
            CryptoError::Key(format!(
                "a {}-byte data key is too long for this {}-bit RSA key and padding (at most {max})",
                plaintext.len(),
                self.bits
            ))
        };
        let mut out = vec![0u8; self.bits.div_ceil(8)];
        let n = match &self.enc {
            Encrypter::Pkcs1(k) => {
                if plaintext.len() > k.max_plaintext_size() {
                    return Err(too_long(k.max_plaintext_size()));
                }
                k.encrypt(plaintext, &mut out)
                    .map_err(|_| CryptoError::Backend("RSA encryption failed"))?
                    .len()
            }
            Encrypter::Oaep(k, alg) => {
                if plaintext.len() > k.max_plaintext_size(alg) {
                    return Err(too_long(k.max_plaintext_size(alg)));
                }
                k.encrypt(alg, plaintext, &mut out, None)
                    .map_err(|_| CryptoError::Backend("RSA encryption failed"))?
                    .len()
            }
        };
        out.truncate(n);
        Ok(out)
    }
}

enum Decrypter {
    Pkcs1(Pkcs1PrivateDecryptingKey),
    Oaep(OaepPrivateDecryptingKey, &'static OaepAlgorithm),
}

/// An RSA private key bound to one padding, for unwrapping data keys.
/// aws-lc-rs frees (and wipes) the key when it is dropped.
pub struct RsaPrivateKey {
    dec: Decrypter,
    public: RsaPublicKey,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPrivateKey({} bits)", self.public.bits)
    }
}

impl RsaPrivateKey {
    /// Loads a PEM PKCS#8 (`BEGIN PRIVATE KEY`) RSA key.
    pub fn from_pem(pem: &[u8], padding: RsaPadding) -> Result<Self> {
        Self::from_pkcs8_der(&pem_to_der(pem, "PRIVATE KEY")?, padding)
    }

    /// Loads a DER PKCS#8 RSA key.
    pub fn from_pkcs8_der(der: &[u8], padding: RsaPadding) -> Result<Self> {
        let key = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|e| CryptoError::Key(format!("the private key is not a usable RSA key: {e}")))?;
        Self::with_padding(key, padding)
    }

    fn with_padding(key: PrivateDecryptingKey, padding: RsaPadding) -> Result<Self> {
        let public = RsaPublicKey::with_padding(key.public_key(), padding)?;
        let dec = match padding.oaep() {
            None => Decrypter::Pkcs1(
                Pkcs1PrivateDecryptingKey::new(key)
                    .map_err(|_| CryptoError::Backend("RSA key setup failed"))?,
            ),
            Some(alg) => Decrypter::Oaep(
                OaepPrivateDecryptingKey::new(key)
                    .map_err(|_| CryptoError::Backend("RSA key setup failed"))?,
                alg,
            ),
        };
        Ok(RsaPrivateKey { dec, public })
    }

    /// The matching public key, with the same padding.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.bits
    }

    /// Decrypts `ciphertext`; `None` if it does not decrypt under this key and padding.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Secret> {
        let mut buf = Zeroizing::new(vec![0u8; self.public.bits.div_ceil(8)]);
        let plain = match &self.dec {
            Decrypter::Pkcs1(k) => k.decrypt(ciphertext, &mut buf).ok()?,
            Decrypter::Oaep(k, alg) => k.decrypt(alg, ciphertext, &mut buf, None).ok()?,
        };
        Some(Zeroizing::new(plain.to_vec()))
    }

    /// Unwraps a key of exactly `len` bytes from `ciphertext`; `None` if it
    /// does not decrypt under this key and padding, or decrypts to another
    /// length.
    ///
    /// The two failures must look the same (PKCS#1 v1.5 padding oracles,
    /// Bleichenbacher's and Marvin's, tell them apart): after the backend's
    /// own constant-time padding check, both take the same steps (the same
    /// buffers, the same copy) and end in the one `None`. aws-lc-rs offers no
    /// implicit rejection, which would hide even a success.
    pub fn unwrap_key(&self, ciphertext: &[u8], len: usize) -> Option<Secret> {
        let mut buf = Zeroizing::new(vec![0u8; self.public.bits.div_ceil(8)]);
        let got = match &self.dec {
            Decrypter::Pkcs1(k) => k.decrypt(ciphertext, &mut buf).map(|p| p.len()),
            Decrypter::Oaep(k, alg) => k.decrypt(alg, ciphertext, &mut buf, None).map(|p| p.len()),
        };
        let mut key = Zeroizing::new(vec![0u8; len]);
        let n = len.min(buf.len());
        key[..n].copy_from_slice(&buf[..n]);
        (got.ok() == Some(len)).then_some(key)
    }
}

/// The key of an RSA key file: the private key, or only the public key.
#[derive(Debug)]
pub enum RsaKey {
    /// A private key (PKCS#8 or PKCS#1).
    Private(RsaPrivateKey),
    /// A public key (SubjectPublicKeyInfo or PKCS#1).
    Public(RsaPublicKey),
}

/// The DER prefix of the ANSI X9.62 object identifiers (1.2.840.10045):
/// `id-ecPublicKey` and the named curves, found in every encoding of an EC key.
const X962_OID_PREFIX: [u8; 5] = [0x2a, 0x86, 0x48, 0xce, 0x3d];

impl RsaKey {
    /// Loads an RSA key file in any of the encodings OpenSSL writes: PEM or
    /// DER, a PKCS#8 or PKCS#1 private key, a SubjectPublicKeyInfo or PKCS#1
    /// public key. `file` names the file in every error, which says what the
    /// file holds when it is no RSA key (an EC key, an encrypted key).
    pub fn from_key_file(file: &str, bytes: &[u8], padding: RsaPadding) -> Result<RsaKey> {
        let text = std::str::from_utf8(bytes).ok().map(str::trim);
        match text.and_then(pem_label) {
            Some(label) => from_pem_block(file, bytes, label, padding),
            None if text.is_some_and(|t| t.starts_with("-----")) => Err(key_error(file, "is not a PEM key")),
            None => from_der_any(file, bytes, padding),
        }
    }
}

/// Whether the DER `der` names an ANSI X9.62 (EC) algorithm or curve: asked
/// only of a key that RSA parsing refused, to say what it is instead.
fn is_ec(der: &[u8]) -> bool {
    der.windows(X962_OID_PREFIX.len()).any(|w| w == X962_OID_PREFIX)
}

fn key_error(file: &str, what: &str) -> CryptoError {
    CryptoError::Key(format!("{file} {what}"))
}

/// The label of the PEM block `text` starts with (`RSA PRIVATE KEY`).
fn pem_label(text: &str) -> Option<&str> {
    let (label, _) = text.strip_prefix("-----BEGIN ")?.split_once("-----")?;
    Some(label)
}

fn from_pem_block(file: &str, bytes: &[u8], label: &str, padding: RsaPadding) -> Result<RsaKey> {
    let der = || {
        pem_to_der(bytes, label).map_err(|e| match e {
            CryptoError::Key(m) => CryptoError::Key(format!("{file}: {m}")),
            e => e,
        })
    };
    match label {
        "PRIVATE KEY" => private_pkcs8(file, &der()?, padding),
        "RSA PRIVATE KEY" => private_pkcs1(file, &der()?, padding),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => public_any(file, &der()?, padding),
        "EC PRIVATE KEY" | "EC PARAMETERS" => Err(key_error(file, "is an EC key, not RSA")),
        "ENCRYPTED PRIVATE KEY" => Err(CryptoError::Key(format!(
            "{file} is an encrypted private key; decrypt it first: openssl pkcs8 -in {file} -out PLAIN.pem"
        ))),
        other => Err(CryptoError::Key(format!(
            "{file} holds a PEM '{other}' block, not an RSA key ('PRIVATE KEY', 'RSA PRIVATE KEY', \
             'PUBLIC KEY' or 'RSA PUBLIC KEY')"
        ))),
    }
}

/// A DER key file: each encoding in turn (the outer structures differ, so at
/// most one of them parses).
fn from_der_any(file: &str, der: &[u8], padding: RsaPadding) -> Result<RsaKey> {
    private_pkcs8(file, der, padding)
        .or_else(|_| private_pkcs1(file, der, padding))
        .or_else(|_| public_any(file, der, padding))
        .map_err(|e| match e {
            CryptoError::Key(_) if !is_ec(der) => key_error(
                file,
                "is not an RSA key (PEM or DER: PKCS#8, PKCS#1 or SubjectPublicKeyInfo)",
            ),
            e => e,
        })
}

/// The error for a key `der` that aws-lc-rs refused: an EC key is named as
/// such (aws-lc-rs says only "WrongAlgorithm").
fn unusable(file: &str, der: &[u8], e: impl fmt::Display) -> CryptoError {
    if is_ec(der) {
        key_error(file, "is an EC key, not RSA")
    } else {
        CryptoError::Key(format!("{file} is not a usable RSA key: {e}"))
    }
}

fn private_pkcs8(file: &str, der: &[u8], padding: RsaPadding) -> Result<RsaKey> {
    let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| unusable(file, der, e))?;
    RsaPrivateKey::with_padding(key, padding).map(RsaKey::Private)
}

/// A PKCS#1 `RSAPrivateKey`: aws-lc-rs reads it as a key pair, whose PKCS#8
/// form the decrypting key takes.
fn private_pkcs1(file: &str, der: &[u8], padding: RsaPadding) -> Result<RsaKey> {
    let pair = KeyPair::from_der(der).map_err(|e| unusable(file, der, e))?;
    let pkcs8: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| CryptoError::Backend("RSA key encoding failed"))?;
    private_pkcs8(file, pkcs8.as_ref(), padding)
}

/// A SubjectPublicKeyInfo or PKCS#1 `RSAPublicKey` (aws-lc-rs reads both).
fn public_any(file: &str, der: &[u8], padding: RsaPadding) -> Result<RsaKey> {
    let key = PublicKey::from_der(der).map_err(|e| unusable(file, der, e))?;
    let spki: PublicKeyX509Der<'static> = key
        .as_der()
        .map_err(|_| CryptoError::Backend("RSA public key encoding failed"))?;
    let key = PublicEncryptingKey::from_der(spki.as_ref()).map_err(|e| unusable(file, der, e))?;
    RsaPublicKey::with_padding(key, padding).map(RsaKey::Public)
}

/// A new RSA key pair of `bits` bits (2048, 3072 or 4096): the private key
/// as PKCS#8 DER, zeroized on drop, and the public key as SubjectPublicKeyInfo DER.
pub fn generate_key_pair(bits: usize) -> Result<(Secret, Vec<u8>)> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        n => return Err(CryptoError::Unsupported(format!("RSA keys of {n} bits"))),
    };
    let failed = |_| CryptoError::Backend("RSA key generation failed");
    let private = PrivateDecryptingKey::generate(size).map_err(failed)?;
    let pkcs8: Pkcs8V1Der<'static> = private.as_der().map_err(failed)?;
    let spki: PublicKeyX509Der<'static> = private.public_key().as_der().map_err(failed)?;
    Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
}

/// The SubjectPublicKeyInfo DER of the RSA private key `pkcs8` (PKCS#8 DER):
/// the public key is derived from the private key, never taken on trust.
pub fn public_key_der(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8)
        .map_err(|e| CryptoError::Key(format!("the private key is not a usable RSA key: {e}")))?;
    let spki: PublicKeyX509Der<'static> = key
        .public_key()
        .as_der()
        .map_err(|_| CryptoError::Backend("RSA public key encoding failed"))?;
    Ok(spki.as_ref().to_vec())
}

/// Decodes one PEM block whose label must be `label` (RFC 7468, strict form).
///
/// Only whitespace may surround the block; encapsulated headers (such as the
/// `Proc-Type` of encrypted legacy keys) and non-canonical base64 are refused.
/// The DER is returned zeroized because for private keys it is the key itself.
pub(crate) fn pem_to_der(pem: &[u8], label: &str) -> Result<Secret> {
    let text =
        std::str::from_utf8(pem).map_err(|_| CryptoError::Key("PEM key file is not UTF-8 text".into()))?;
    let text = text.trim();
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(body) = text.strip_prefix(begin.as_str()) else {
        return Err(CryptoError::Key(wrong_block(text, label)));
    };
    let Some(body) = body.strip_suffix(end.as_str()) else {
        return Err(CryptoError::Key(format!(
            "PEM block does not end with '{end}' (or has text after it)"
        )));
    };
    if body.contains(':') || body.contains('-') {
        return Err(CryptoError::Key(format!(
            "PEM {label} has headers or extra boundaries; encrypted or multi-block PEM is not supported"
        )));
    }
    let b64: Zeroizing<Vec<u8>> = Zeroizing::new(body.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    let der = base64::engine::general_purpose::STANDARD
        .decode(&*b64)
        .map_err(|e| CryptoError::Key(format!("PEM {label} body is not valid base64: {e}")))?;
    let der = Zeroizing::new(der);
    if der.is_empty() {
        return Err(CryptoError::Key(format!("PEM {label} block is empty")));
    }
    Ok(der)
}

/// Explains why a PEM text does not start with the expected block.
fn wrong_block(text: &str, label: &str) -> String {
    let found = text
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(l, _)| l);
    match (found, label) {
        (Some("RSA PRIVATE KEY"), "PRIVATE KEY") => "the private key is PKCS#1 ('BEGIN RSA PRIVATE KEY'); \
             convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt`"
            .into(),
        (Some("RSA PUBLIC KEY"), "PUBLIC KEY") => "the public key is PKCS#1 ('BEGIN RSA PUBLIC KEY'); \
             convert it to SubjectPublicKeyInfo with `openssl rsa -RSAPublicKey_in -pubout`"
            .into(),
        (Some("ENCRYPTED PRIVATE KEY"), _) => {
            "the private key is encrypted; decrypt it first with `openssl pkcs8 -in KEY -out PLAIN.pem`"
                .into()
        }
        (Some(other), _) => format!("expected a PEM '{label}' block, found '{other}'"),
        (None, _) => format!("expected a PEM '{label}' block ('-----BEGIN {label}-----')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-private.pem");
    const PUBLIC: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-public.pem");
    const EC_PRIVATE: &[u8] = include_bytes!("../../testdata/keys/ec-p256-private.pem");
    const EC_PUBLIC: &[u8] = include_bytes!("../../testdata/keys/ec-p256-public.pem");

    fn key_err(r: Result<impl fmt::Debug>) -> String {
        match r {
            Err(CryptoError::Key(m)) => m,
            other => panic!("expected CryptoError::Key, got {other:?}"),
        }
    }

    #[test]
    fn padding_names_round_trip() {
        for p in RsaPadding::ALL {
            assert_eq!(p.to_string().parse::<RsaPadding>().unwrap(), p);
        }
        assert_eq!(
            "OAEP-SHA256".parse::<RsaPadding>().unwrap(),
            RsaPadding::OaepSha256
        );
        assert!(matches!(
            "oaep".parse::<RsaPadding>(),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(matches!(
            "".parse::<RsaPadding>(),
            Err(CryptoError::Unsupported(_))
        ));
    }

    #[test]
    fn encrypt_decrypt_every_padding() {
        for p in RsaPadding::ALL {
            let private = RsaPrivateKey::from_pem(PRIVATE, p).unwrap();
            let public = RsaPublicKey::from_pem(PUBLIC, p).unwrap();
            assert_eq!(private.bits(), 2048);
            for enc in [&public, private.public_key()] {
                let c = enc.encrypt(&[7u8; 32]).unwrap();
                assert_eq!(c.len(), 256, "{p}");
                assert_eq!(&private.decrypt(&c).unwrap()[..], &[7u8; 32], "{p}");
                let mut bad = c.clone();
                bad[100] ^= 1;
                assert!(private.decrypt(&bad).is_none(), "{p}");
                assert!(private.decrypt(&c[1..]).is_none(), "{p}");
            }
            // Randomized padding: two encryptions differ.
            assert_ne!(public.encrypt(b"k").unwrap(), public.encrypt(b"k").unwrap());
        }
    }

    #[test]
    fn unwrap_key_takes_only_the_expected_length() {
        for p in RsaPadding::ALL {
            let private = RsaPrivateKey::from_pem(PRIVATE, p).unwrap();
            let c = private.public_key().encrypt(&[7u8; 32]).unwrap();
            assert_eq!(&private.unwrap_key(&c, 32).unwrap()[..], &[7u8; 32], "{p}");
            assert!(private.unwrap_key(&c, 16).is_none(), "{p}");
            let mut bad = c.clone();
            bad[100] ^= 1;
            assert!(private.unwrap_key(&bad, 32).is_none(), "{p}");
            assert!(private.unwrap_key(&c[1..], 32).is_none(), "{p}");
            assert!(private.unwrap_key(&[], 32).is_none(), "{p}");
        }
    }

    #[test]
    fn padding_mismatch_does_not_decrypt() {
        let c = RsaPublicKey::from_pem(PUBLIC, RsaPadding::OaepSha256)
            .unwrap()
            .encrypt(&[1u8; 16])
            .unwrap();
        for p in [RsaPadding::Pkcs1, RsaPadding::OaepSha1, RsaPadding::OaepSha512] {
            assert!(
                RsaPrivateKey::from_pem(PRIVATE, p).unwrap().decrypt(&c).is_none(),
                "{p}"
            );
        }
    }

    #[test]
    fn oversized_plaintext_is_refused() {
        // 2048-bit OAEP-SHA512 holds at most 256 - 2*64 - 2 = 126 bytes.
        let k = RsaPublicKey::from_pem(PUBLIC, RsaPadding::OaepSha512).unwrap();
        assert!(k.encrypt(&[0u8; 126]).is_ok());
        assert!(key_err(k.encrypt(&[0u8; 127])).contains("too long"));
    }

    #[test]
    fn wrong_pem_kinds_are_explained() {
        let p = RsaPadding::OaepSha256;
        assert!(key_err(RsaPrivateKey::from_pem(PUBLIC, p)).contains("found 'PUBLIC KEY'"));
        assert!(key_err(RsaPublicKey::from_pem(PRIVATE, p)).contains("found 'PRIVATE KEY'"));
        let text = std::str::from_utf8(PRIVATE).unwrap();
        let pkcs1 = text.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        assert!(key_err(RsaPrivateKey::from_pem(pkcs1.as_bytes(), p)).contains("PKCS#1"));
        let enc = text.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
        assert!(key_err(RsaPrivateKey::from_pem(enc.as_bytes(), p)).contains("encrypted"));
        assert!(key_err(RsaPrivateKey::from_pem(b"", p)).contains("expected a PEM"));
        assert!(key_err(RsaPrivateKey::from_pem(&[0xff, 0xfe], p)).contains("UTF-8"));
        // EC keys parse as PEM but are not RSA.
        assert!(key_err(RsaPrivateKey::from_pem(EC_PRIVATE, p)).contains("not a usable RSA key"));
        assert!(key_err(RsaPublicKey::from_pem(EC_PUBLIC, p)).contains("not a usable RSA key"));
    }

    #[test]
    fn pem_is_strict() {
        let text = std::str::from_utf8(PUBLIC).unwrap();
        // Surrounding whitespace and CRLF line ends are fine.
        let crlf = format!("\n  {}\n\n", text.replace('\n', "\r\n"));
        assert!(RsaPublicKey::from_pem(crlf.as_bytes(), RsaPadding::Pkcs1).is_ok());
        // Text after the block, a header, bad base64, a truncated body, two blocks.
        let cases = [
            format!("{text}trailing"),
            text.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1),
            text.replacen('M', "*", 1),
            text.replacen("MIIB", "MIB", 1),
            format!("{text}{text}"),
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----".to_string(),
        ];
        for bad in cases {
            assert!(
                matches!(
                    RsaPublicKey::from_pem(bad.as_bytes(), RsaPadding::Pkcs1),
                    Err(CryptoError::Key(_))
                ),
                "accepted: {bad}"
            );
        }
    }
}
