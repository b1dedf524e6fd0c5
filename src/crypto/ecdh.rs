//! Elliptic-curve Diffie-Hellman on P-256, P-384 and P-521, the key encodings
//! around it, and the NIST SP 800-108 counter-mode KDF (HMAC-SHA384) that the
//! ESDK's raw ECDH keyring derives its wrapping keys with.
//!
//! Every primitive is aws-lc-rs's: key agreement (`agreement`), key
//! generation, PKCS#8 parsing and writing, point validation and point
//! *decompression* (aws-lc parses a SEC1 compressed point and checks that it
//! lies on the curve), and the KDF (`kdf::kbkdf_ctr_hmac`). aws-lc-rs has no
//! call that turns a bare public key into its compressed form, so
//! [`EcdhPublicKey::from_spki_der`] re-encodes it: after aws-lc has validated
//! the key, the compressed form is `02 | (y & 1)` followed by x, both copied
//! from the uncompressed point in the SubjectPublicKeyInfo (SEC1 section
//! 2.3.3: a byte rearrangement, no arithmetic). The tests check it against
//! aws-lc's own compressed encoding of the same keys.
//!
//! This module knows nothing of the message format or of keyrings: it takes
//! and returns bytes, with its own small error type.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::agreement::{self, ParsedPublicKey, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::Secret;

/// A NIST curve usable for ECDH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Curve {
    /// NIST P-256 (secp256r1, prime256v1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// Every curve, smallest first.
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    /// `P-256`, `P-384` or `P-521`.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes of a field element, and so of an x coordinate and of the shared
    /// secret: 32, 48 or 66.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// Bytes of a SEC1 compressed point: 33, 49 or 67.
    pub fn compressed_len(self) -> usize {
        self.field_len() + 1
    }

    /// Bytes of a DER SubjectPublicKeyInfo with the named curve and an
    /// uncompressed point: 91, 120 or 158.
    pub fn spki_len(self) -> usize {
        self.spki_prefix().len() + 1 + 2 * self.field_len()
    }

    /// The DER of such a SubjectPublicKeyInfo up to the point: the
    /// id-ecPublicKey algorithm with the curve's OID, and the BIT STRING
    /// header (no unused bits).
    fn spki_prefix(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
                0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ],
            Curve::P384 => &[
                0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
                0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
            ],
            Curve::P521 => &[
                0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00,
            ],
        }
    }

    fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
        }
    }

    /// The same curve as aws-lc-rs's ECDSA verification knows it: only its
    /// public-key parser is used, to decompress a point into an SPKI.
    fn ecdsa(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        }
    }

    /// The curve whose compressed points are `len` bytes long.
    pub fn from_compressed_len(len: usize) -> Option<Curve> {
        Curve::ALL.into_iter().find(|c| c.compressed_len() == len)
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Curve {
    type Err = CryptoError;

    /// `p256`, `P-256`, `secp256r1`, `prime256v1`, `ecc-256`, ... (ASCII case ignored).
    fn from_str(s: &str) -> Result<Curve> {
        let l = s.to_ascii_lowercase();
        match l.as_str() {
            "p256" | "p-256" | "secp256r1" | "prime256v1" | "ecc-256" | "ecc_nist_p256" => Ok(Curve::P256),
            "p384" | "p-384" | "secp384r1" | "ecc-384" | "ecc_nist_p384" => Ok(Curve::P384),
            "p521" | "p-521" | "secp521r1" | "ecc-521" | "ecc_nist_p521" => Ok(Curve::P521),
            _ => Err(CryptoError::Key(format!(
                "unknown curve '{s}' (expected p256, p384 or p521)"
            ))),
        }
    }
}

/// A validated public key on one of the curves, kept in both encodings the
/// ESDK uses: the compressed point (in messages) and the DER
/// SubjectPublicKeyInfo (in key files and APIs).
#[derive(Clone, PartialEq, Eq)]
pub struct EcdhPublicKey {
    curve: Curve,
    compressed: Vec<u8>,
    spki: Vec<u8>,
}

impl fmt::Debug for EcdhPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcdhPublicKey({}, ", self.curve)?;
        for b in &self.compressed {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl EcdhPublicKey {
    /// Reads a DER SubjectPublicKeyInfo with a named curve and an
    /// uncompressed point (91, 120 or 158 bytes, as the ESDK requires), and
    /// checks with aws-lc that the point is on the curve and not the point at
    /// infinity.
    pub fn from_spki_der(der: &[u8]) -> Result<EcdhPublicKey> {
        let not_spki = || {
            CryptoError::Key(format!(
                "not a P-256, P-384 or P-521 public key: expected a DER SubjectPublicKeyInfo with a named curve \
                 and an uncompressed point (91, 120 or 158 bytes), got {} bytes",
                der.len()
            ))
        };
        let curve = Curve::ALL
            .into_iter()
            .find(|c| c.spki_len() == der.len())
            .ok_or_else(not_spki)?;
        let prefix = curve.spki_prefix();
        let point = der
            .strip_prefix(prefix)
            .filter(|p| p.first() == Some(&0x04))
            .ok_or_else(not_spki)?;
        ParsedPublicKey::try_from(UnparsedPublicKey::new(curve.agreement(), der)).map_err(|_| {
            CryptoError::Key(format!(
                "the {curve} public key is not a valid point on the curve"
            ))
        })?;
        let n = curve.field_len();
        let (x, y) = point[1..].split_at(n);
        let mut compressed = Vec::with_capacity(1 + n);
        compressed.push(0x02 | (y[n - 1] & 1));
        compressed.extend_from_slice(x);
        Ok(EcdhPublicKey {
            curve,
            compressed,
            spki: der.to_vec(),
        })
    }

    /// Reads a SubjectPublicKeyInfo as DER, or as PEM (`BEGIN PUBLIC KEY`).
    pub fn from_spki_der_or_pem(bytes: &[u8]) -> Result<EcdhPublicKey> {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let der = pem_to_der(bytes, "PUBLIC KEY")?;
            EcdhPublicKey::from_spki_der(&der)
        } else {
            EcdhPublicKey::from_spki_der(bytes)
        }
    }

    /// Reads a SEC1 compressed point (33, 49 or 67 bytes starting with 02 or
    /// 03) on `curve`. aws-lc recovers y and rejects an x with no point on the
    /// curve, or not below the field prime.
    pub fn from_compressed(curve: Curve, bytes: &[u8]) -> Result<EcdhPublicKey> {
        if bytes.len() != curve.compressed_len() {
            return Err(CryptoError::Key(format!(
                "a compressed {curve} point is {} bytes, not {}",
                curve.compressed_len(),
                bytes.len()
            )));
        }
        if !matches!(bytes[0], 0x02 | 0x03) {
            return Err(CryptoError::Key(format!(
                "not a compressed {curve} point: it starts with {:02x}, not 02 or 03",
                bytes[0]
            )));
        }
        let not_on_curve = || CryptoError::Key(format!("not a point on {curve}"));
        let parsed = signature::ParsedPublicKey::new(curve.ecdsa(), bytes).map_err(|_| not_on_curve())?;
        let spki: PublicKeyX509Der = parsed
            .as_der()
            .map_err(|_| CryptoError::Backend("encoding a public key failed"))?;
        let spki = spki.as_ref().to_vec();
        if spki.len() != curve.spki_len() || !spki.starts_with(curve.spki_prefix()) {
            return Err(CryptoError::Backend(
                "aws-lc encoded a public key in an unexpected form",
            ));
        }
        Ok(EcdhPublicKey {
            curve,
            compressed: bytes.to_vec(),
            spki,
        })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The SEC1 compressed point, as the ESDK writes it into messages.
    pub fn compressed(&self) -> &[u8] {
        &self.compressed
    }

    /// The DER SubjectPublicKeyInfo (named curve, uncompressed point).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The SubjectPublicKeyInfo as PEM text (`BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        der_to_pem(&self.spki, "PUBLIC KEY")
    }
}

/// A private key on one of the curves, with its public key.
pub struct EcdhPrivateKey {
    key: PrivateKey,
    public: EcdhPublicKey,
}

impl fmt::Debug for EcdhPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcdhPrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl EcdhPrivateKey {
    /// A fresh key pair from aws-lc's generator.
    pub fn generate(curve: Curve) -> Result<EcdhPrivateKey> {
        let key = PrivateKey::generate(curve.agreement())
            .map_err(|_| CryptoError::Backend("ECDH key generation failed"))?;
        EcdhPrivateKey::with_public(curve, key)
    }

    /// Reads a PKCS#8 PrivateKeyInfo (or an RFC 5915 ECPrivateKey, which
    /// aws-lc also takes) as DER; the curve is the key's own.
    pub fn from_der(der: &[u8]) -> Result<EcdhPrivateKey> {
        for curve in Curve::ALL {
            if let Ok(key) = PrivateKey::from_private_key_der(curve.agreement(), der) {
                return EcdhPrivateKey::with_public(curve, key);
            }
        }
        Err(CryptoError::Key(
            "not a P-256, P-384 or P-521 private key (PKCS#8 PrivateKeyInfo)".into(),
        ))
    }

    /// Reads a PEM PKCS#8 private key (`BEGIN PRIVATE KEY`), the form the
    /// ESDK takes.
    pub fn from_pem(pem: &[u8]) -> Result<EcdhPrivateKey> {
        let der = pem_to_der(pem, "PRIVATE KEY")?;
        EcdhPrivateKey::from_der(&der)
    }

    fn with_public(curve: Curve, key: PrivateKey) -> Result<EcdhPrivateKey> {
        let public = key
            .compute_public_key()
            .map_err(|_| CryptoError::Backend("computing an ECDH public key failed"))?;
        let spki: PublicKeyX509Der = public
            .as_der()
            .map_err(|_| CryptoError::Backend("encoding an ECDH public key failed"))?;
        let public = EcdhPublicKey::from_spki_der(spki.as_ref())?;
        if public.curve != curve {
            return Err(CryptoError::Backend(
                "aws-lc returned a public key on another curve",
            ));
        }
        Ok(EcdhPrivateKey { key, public })
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.public.curve
    }

    /// The matching public key.
    pub fn public_key(&self) -> &EcdhPublicKey {
        &self.public
    }

    /// The aws-lc encoding of the public key in compressed form (for tests of
    /// [`EcdhPublicKey::from_spki_der`]'s own compression).
    #[cfg(test)]
    fn aws_lc_compressed(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
        let public = self.key.compute_public_key().unwrap();
        let c: EcPublicKeyCompressedBin = public.as_be_bytes().unwrap();
        c.as_ref().to_vec()
    }

    /// The key as PEM PKCS#8 text (`BEGIN PRIVATE KEY`), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let der: Pkcs8V1Der = self
            .key
            .as_der()
            .map_err(|_| CryptoError::Backend("encoding an ECDH private key failed"))?;
        Ok(Zeroizing::new(der_to_pem(der.as_ref(), "PRIVATE KEY")))
    }

    /// The shared secret with `peer`: the x coordinate of the product point,
    /// at the curve's full field length (leading zero bytes kept).
    pub fn agree(&self, peer: &EcdhPublicKey) -> Result<Secret> {
        if peer.curve != self.curve() {
            return Err(CryptoError::Key(format!(
                "a {} public key cannot be used with a {} private key",
                peer.curve,
                self.curve()
            )));
        }
        let z = agreement::agree(
            &self.key,
            UnparsedPublicKey::new(self.curve().agreement(), &peer.spki),
            CryptoError::Backend("ECDH key agreement failed"),
            |z| Ok(Zeroizing::new(z.to_vec())),
        )?;
        if z.len() != self.curve().field_len() {
            return Err(CryptoError::Backend("ECDH returned a secret of the wrong length"));
        }
        Ok(z)
    }
}

/// The raw ECDH keyring's KDF: NIST SP 800-108 in counter mode over
/// HMAC-SHA384 (the shared construction in [`super::kbkdf`]).
pub fn kbkdf_ctr_hmac_sha384(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) -> Result<()> {
    super::kbkdf::counter_mode_hmac(super::hmac::Digest::Sha384, key, label, context, out)
}

fn pem_to_der(pem: &[u8], label: &str) -> Result<Secret> {
    super::rsa::pem_to_der(pem, label).map_err(|e| {
        let m = e.to_string();
        CryptoError::Key(m.strip_prefix("key: ").unwrap_or(&m).to_owned())
    })
}

fn der_to_pem(der: &[u8], label: &str) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    #[test]
    fn lengths_match_the_esdk_tables() {
        let lens: Vec<_> = Curve::ALL
            .iter()
            .map(|c| (c.field_len(), c.compressed_len(), c.spki_len()))
            .collect();
        assert_eq!(lens, [(32, 33, 91), (48, 49, 120), (66, 67, 158)]);
        assert_eq!(Curve::from_compressed_len(49), Some(Curve::P384));
        assert_eq!(Curve::from_compressed_len(65), None);
        assert_eq!("P-521".parse::<Curve>().unwrap(), Curve::P521);
        assert_eq!("ecc-256".parse::<Curve>().unwrap(), Curve::P256);
        assert!("p224".parse::<Curve>().is_err());
    }

    #[test]
    fn compression_agrees_with_aws_lc_and_decompression_round_trips() {
        let mut first_bytes = std::collections::BTreeSet::new();
        for curve in Curve::ALL {
            for _ in 0..16 {
                let k = EcdhPrivateKey::generate(curve).unwrap();
                let p = k.public_key();
                assert_eq!(p.curve(), curve);
                assert_eq!(p.spki_der().len(), curve.spki_len());
                assert_eq!(p.compressed(), k.aws_lc_compressed());
                first_bytes.insert(p.compressed()[0]);
                let back = EcdhPublicKey::from_compressed(curve, p.compressed()).unwrap();
                assert_eq!(&back, p);
                let pem = p.to_pem();
                assert_eq!(&EcdhPublicKey::from_spki_der_or_pem(pem.as_bytes()).unwrap(), p);
                let again = EcdhPrivateKey::from_pem(k.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
                assert_eq!(again.public_key(), p);
            }
        }
        assert_eq!(first_bytes, [2u8, 3].into(), "both y parities seen");
    }

    #[test]
    fn debug_shows_no_private_key() {
        use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
        for curve in Curve::ALL {
            let k = EcdhPrivateKey::generate(curve).unwrap();
            let shown = format!("{k:?}");
            let scalar: EcPrivateKeyBin = k.key.as_be_bytes().unwrap();
            let hex: String = scalar.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            // No 8-byte run of the scalar, in hex, and no line of its PEM.
            for w in hex.as_bytes().windows(16) {
                assert!(!shown.contains(std::str::from_utf8(w).unwrap()), "{shown}");
            }
            let pem = k.to_pkcs8_pem().unwrap();
            assert!(!shown.contains(pem.lines().nth(1).unwrap()), "{shown}");
            assert!(shown.contains(curve.name()));
        }
    }

    #[test]
    fn agreement_is_symmetric_and_full_length() {
        for curve in Curve::ALL {
            let a = EcdhPrivateKey::generate(curve).unwrap();
            let b = EcdhPrivateKey::generate(curve).unwrap();
            let z1 = a.agree(b.public_key()).unwrap();
            let z2 = b.agree(a.public_key()).unwrap();
            assert_eq!(z1, z2);
            assert_eq!(z1.len(), curve.field_len());
        }
        let a = EcdhPrivateKey::generate(Curve::P256).unwrap();
        let b = EcdhPrivateKey::generate(Curve::P384).unwrap();
        assert!(matches!(a.agree(b.public_key()), Err(CryptoError::Key(_))));
    }

    #[test]
    fn hostile_points_are_refused() {
        for curve in Curve::ALL {
            let n = curve.compressed_len();
            let good = EcdhPrivateKey::generate(curve).unwrap().public_key().clone();
            // Wrong lengths, the infinity encoding, uncompressed and hybrid tags.
            for bad in [vec![0u8], vec![0u8; n], good.compressed()[..n - 1].to_vec()] {
                assert!(EcdhPublicKey::from_compressed(curve, &bad).is_err());
            }
            for tag in [0x00, 0x01, 0x04, 0x06, 0x07] {
                let mut b = good.compressed().to_vec();
                b[0] = tag;
                assert!(EcdhPublicKey::from_compressed(curve, &b).is_err());
            }
            // x = all ones is at least the field prime for every NIST curve.
            let mut big = vec![0xff; n];
            big[0] = 0x02;
            assert!(EcdhPublicKey::from_compressed(curve, &big).is_err());
            // About half of all x have no point; some small x must fail.
            let off_curve = (1u8..=40).filter(|&x| {
                let mut b = vec![0u8; n];
                b[0] = 0x02;
                b[n - 1] = x;
                EcdhPublicKey::from_compressed(curve, &b).is_err()
            });
            assert!(off_curve.count() > 5, "{curve}");
            // The wrong curve.
            let other = Curve::ALL.into_iter().find(|&c| c != curve).unwrap();
            assert!(EcdhPublicKey::from_compressed(other, good.compressed()).is_err());

            // SPKI: infinity (a 1-byte point), a point moved off the curve, a
            // compressed point inside, a truncated key.
            let prefix = curve.spki_prefix();
            let mut inf = prefix.to_vec();
            inf.push(0);
            assert!(EcdhPublicKey::from_spki_der(&inf).is_err());
            let mut moved = good.spki_der().to_vec();
            *moved.last_mut().unwrap() ^= 1;
            assert!(EcdhPublicKey::from_spki_der(&moved).is_err());
            let spki = good.spki_der();
            assert!(EcdhPublicKey::from_spki_der(&spki[..spki.len() - 1]).is_err());
            let mut hybrid = spki.to_vec();
            hybrid[prefix.len()] = 0x06 | (spki[spki.len() - 1] & 1);
            assert!(EcdhPublicKey::from_spki_der(&hybrid).is_err());
        }
        // A P-256 SPKI whose point is all zeros (the MPL tests' "out of bounds" keys look alike).
        let mut zero = Curve::P256.spki_prefix().to_vec();
        zero.push(4);
        zero.extend_from_slice(&[0; 64]);
        assert!(EcdhPublicKey::from_spki_der(&zero).is_err());
    }

    #[test]
    fn private_keys_parse_only_as_ec_keys() {
        let rsa = include_bytes!("../../testdata/keys/rsa-2048-private.pem");
        assert!(matches!(EcdhPrivateKey::from_pem(rsa), Err(CryptoError::Key(_))));
        let public = include_bytes!("../../testdata/keys/ec-p256-public.pem");
        let e = EcdhPrivateKey::from_pem(public).unwrap_err().to_string();
        assert!(e.contains("PUBLIC KEY"), "{e}");
        let private = include_bytes!("../../testdata/keys/ec-p256-private.pem");
        let k = EcdhPrivateKey::from_pem(private).unwrap();
        assert_eq!(k.curve(), Curve::P256);
        assert_eq!(
            k.public_key(),
            &EcdhPublicKey::from_spki_der_or_pem(public).unwrap()
        );
    }

    #[test]
    fn kdf_is_sp800_108_counter_mode_over_hmac_sha384() {
        let key = [7u8; 48];
        let (label, context) = (b"some label".as_slice(), [9u8; 32]);
        let mut out = [0u8; 64];
        kbkdf_ctr_hmac_sha384(&key, label, &context, &mut out).unwrap();
        // The same blocks with aws-lc's HMAC directly.
        let k = hmac::Key::new(hmac::HMAC_SHA384, &key);
        let mut expect = Vec::new();
        for i in 1u32..=2 {
            let mut msg = i.to_be_bytes().to_vec();
            msg.extend_from_slice(label);
            msg.push(0);
            msg.extend_from_slice(&context);
            msg.extend_from_slice(&512u32.to_be_bytes());
            expect.extend_from_slice(hmac::sign(&k, &msg).as_ref());
        }
        assert_eq!(&out[..], &expect[..64]);
    }
}
