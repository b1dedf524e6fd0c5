//! The raw ECDH keyring: wraps data keys to elliptic-curve public keys.
//!
//! Byte-compatible with the Raw ECDH keyring of the AWS Cryptographic Material
//! Providers Library 1.5.0+ (every official ESDK since: Java, .NET, Python,
//! Rust, Go). A sender and a recipient agree on a secret by ECDH on P-256,
//! P-384 or P-521; a KDF turns it into a commitment key and an AES-256-GCM
//! wrapping key. One EDK:
//!
//! * provider id `raw-ecdh` (on decrypt `aws-kms-ecdh` too: the AWS KMS ECDH
//!   keyring writes the same EDKs);
//! * provider info `01 ‖ u32(|R|) ‖ R ‖ u32(|S|) ‖ S`, R and S the recipient's
//!   and the sender's public keys as SEC1 compressed points;
//! * ciphertext `salt(32) ‖ commitment key(32) ‖ AES-GCM(data key) ‖ tag(16)`.
//!
//! With Z the ECDH secret and FixedInfo = `"ecdh-key-derivation" 00 curve 00
//! "HMAC_SHA384" 00 S ‖ R 00 01 00 ‖ serialized encryption context`, the SP
//! 800-108 KDF (HMAC-SHA384, label FixedInfo, context salt) gives 64 bytes:
//! the commitment key, then the wrapping key; the AES-GCM IV is 12 zero bytes
//! (each EDK has a fresh salt, so a fresh key) and its AAD is FixedInfo.
//!
//! Three key-agreement schemes, as in the MPL:
//!
//! * **static**: the sender's private key and the recipient's public key.
//!   Encrypts, and decrypts EDKs between these two keys in either direction,
//!   so the recipient, configured with its own private key and the sender's
//!   public key, decrypts too.
//! * **ephemeral**: the recipient's public key only; every EDK gets a fresh
//!   sender key pair. Encrypt only: anyone with the public key can encrypt.
//! * **discovery**: the recipient's private key; decrypt only, any sender.
//!
//! Decryption follows the MPL's reference code where it is stricter than the
//! prose specification: an ECDH EDK whose provider info is malformed makes
//! this keyring fail (the MPL aborts the keyring's decrypt too; inside a
//! multi-keyring the other keyrings still run). It is stricter than the MPL in
//! one place: the sender-key length field must equal the recipient's, which
//! every writer does.

use std::fmt;

use super::raw_aes::data_key_to_wrap;
use super::{DecryptionMaterials, EncryptionMaterials, Keyring};
use crate::crypto::aead::AesGcm;
use crate::crypto::ecdh::kbkdf_ctr_hmac_sha384;
pub use crate::crypto::ecdh::{Curve, EcdhPrivateKey, EcdhPublicKey};
use crate::crypto::{ct_eq, fill_random, CryptoError, Secret};
use crate::error::{Error, Part, Result};
use crate::format::context;
use crate::format::edk::EncryptedDataKey;
use zeroize::Zeroizing;

/// The provider id this keyring writes.
pub const PROVIDER_ID: &str = "raw-ecdh";
/// The AWS KMS ECDH keyring's provider id; its EDKs have the same layout.
pub const KMS_ECDH_PROVIDER_ID: &str = "aws-kms-ecdh";
/// The keyring version, in the provider info and in FixedInfo.
const VERSION: u8 = 0x01;
const SALT_LEN: usize = 32;
const COMMITMENT_KEY_LEN: usize = 32;
const WRAPPING_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// The wrapping uses a zero IV: every EDK has its own salt, so its own key.
const ZERO_IV: [u8; 12] = [0; 12];

/// Where the two key pairs come from, and so what the keyring may do.
enum Scheme {
    Static {
        own: EcdhPrivateKey,
        peer: EcdhPublicKey,
    },
    Ephemeral {
        recipient: EcdhPublicKey,
    },
    Discovery {
        own: EcdhPrivateKey,
    },
}

/// A raw ECDH keyring on one curve with one key-agreement scheme.
pub struct RawEcdhKeyring {
    curve: Curve,
    scheme: Scheme,
}

impl fmt::Debug for RawEcdhKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RawEcdhKeyring {
    /// The static scheme: the sender's private key and the recipient's public
    /// key, on the same curve. On decrypt, either party's configuration opens
    /// the EDKs between the two keys (the recipient gives its own private key
    /// as `sender` and the sender's public key as `recipient`).
    pub fn static_keys(sender: EcdhPrivateKey, recipient: EcdhPublicKey) -> Result<Self> {
        if sender.curve() != recipient.curve() {
            return Err(Error::Key(format!(
                "the sender private key is a {} key but the recipient public key is a {} key",
                sender.curve(),
                recipient.curve()
            )));
        }
        Ok(RawEcdhKeyring {
            curve: sender.curve(),
            scheme: Scheme::Static {
                own: sender,
                peer: recipient,
            },
        })
    }

    /// The ephemeral scheme: encrypt only, to the recipient's public key,
    /// with a fresh sender key pair for every EDK.
    pub fn ephemeral(recipient: EcdhPublicKey) -> Self {
        RawEcdhKeyring {
            curve: recipient.curve(),
            scheme: Scheme::Ephemeral { recipient },
        }
    }

    /// The discovery scheme: decrypt only, with the recipient's private key,
    /// whoever the sender was.
    pub fn discovery(recipient: EcdhPrivateKey) -> Self {
        RawEcdhKeyring {
            curve: recipient.curve(),
            scheme: Scheme::Discovery { own: recipient },
        }
    }

    /// The keyring's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// `static`, `ephemeral` or `discovery`.
    pub fn scheme_name(&self) -> &'static str {
        match self.scheme {
            Scheme::Static { .. } => "static",
            Scheme::Ephemeral { .. } => "ephemeral",
            Scheme::Discovery { .. } => "discovery",
        }
    }

    fn describe(&self) -> String {
        let key = match &self.scheme {
            Scheme::Static { own, peer } => format!(
                "own key {}, peer {}",
                hex(own.public_key().compressed()),
                hex(peer.compressed())
            ),
            Scheme::Ephemeral { recipient } => format!("recipient {}", hex(recipient.compressed())),
            Scheme::Discovery { own } => format!("recipient {}", hex(own.public_key().compressed())),
        };
        format!("raw ECDH keyring ({}, {}, {key})", self.curve, self.scheme_name())
    }

    /// Whether an EDK with these keys is for this keyring, and if so the
    /// private key to use and the public key to agree with.
    fn peer_for<'a>(&'a self, info: &ProviderInfo<'_>) -> Option<(&'a EcdhPrivateKey, Peer)> {
        match &self.scheme {
            Scheme::Ephemeral { .. } => None,
            Scheme::Discovery { own } => {
                (info.recipient == own.public_key().compressed()).then_some((own, Peer::Sender))
            }
            Scheme::Static { own, peer } => {
                let (own_c, peer_c) = (own.public_key().compressed(), peer.compressed());
                if own_c == info.sender && peer_c == info.recipient {
                    Some((own, Peer::Recipient))
                } else if own_c == info.recipient && peer_c == info.sender {
                    Some((own, Peer::Sender))
                } else {
                    None
                }
            }
        }
    }
}

/// Which of the EDK's two keys is the other party's.
#[derive(Clone, Copy)]
enum Peer {
    Sender,
    Recipient,
}

/// A parsed raw ECDH provider info: the curve its length implies and the two
/// compressed points, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo<'a> {
    /// The curve whose compressed points fit the info's length.
    pub curve: Curve,
    /// The recipient's public key, as stored (compressed).
    pub recipient: &'a [u8],
    /// The sender's public key, as stored (compressed).
    pub sender: &'a [u8],
}

/// Parses `01 ‖ u32(r) ‖ R ‖ u32(s) ‖ S`. The total must be 75, 107 or 143
/// bytes (P-256, P-384, P-521) and both lengths the curve's compressed-point
/// length; the points themselves are checked only when used.
pub fn parse_provider_info(info: &[u8]) -> std::result::Result<ProviderInfo<'_>, String> {
    let curve = Curve::ALL
        .into_iter()
        .find(|c| info.len() == 9 + 2 * c.compressed_len())
        .ok_or_else(|| {
            format!(
                "raw ECDH provider info is {} bytes, not 75 (P-256), 107 (P-384) or 143 (P-521)",
                info.len()
            )
        })?;
    let n = curve.compressed_len();
    if info[0] != VERSION {
        return Err(format!(
            "raw ECDH provider info has version {}, not {VERSION}",
            info[0]
        ));
    }
    let length_at = |at: usize| u32::from_be_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]);
    let r = length_at(1);
    if r as usize != n {
        return Err(format!(
            "raw ECDH provider info gives the recipient key {r} bytes; a {}-byte info holds {curve} keys of {n}",
            info.len()
        ));
    }
    let s = length_at(5 + n);
    if s as usize != n {
        return Err(format!(
            "raw ECDH provider info gives the sender key {s} bytes; a {}-byte info holds {curve} keys of {n}",
            info.len()
        ));
    }
    Ok(ProviderInfo {
        curve,
        recipient: &info[5..5 + n],
        sender: &info[9 + n..],
    })
}

/// The provider info for a recipient and a sender key (compressed points).
pub fn serialize_provider_info(recipient: &[u8], sender: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + recipient.len() + sender.len());
    out.push(VERSION);
    out.extend_from_slice(&(recipient.len() as u32).to_be_bytes());
    out.extend_from_slice(recipient);
    out.extend_from_slice(&(sender.len() as u32).to_be_bytes());
    out.extend_from_slice(sender);
    out
}

/// The curve's name inside FixedInfo.
fn kdf_curve_name(curve: Curve) -> &'static [u8] {
    match curve {
        Curve::P256 => b"p256",
        Curve::P384 => b"p384",
        Curve::P521 => b"p521",
    }
}

/// FixedInfo: the KDF's label and the wrapping's AAD. The sender comes
/// first here, unlike in the provider info.
fn fixed_info(curve: Curve, sender: &[u8], recipient: &[u8], serialized_context: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + sender.len() + recipient.len() + serialized_context.len());
    out.extend_from_slice(b"ecdh-key-derivation\0");
    out.extend_from_slice(kdf_curve_name(curve));
    out.extend_from_slice(b"\0HMAC_SHA384\0");
    out.extend_from_slice(sender);
    out.extend_from_slice(recipient);
    out.extend_from_slice(&[0, VERSION, 0]);
    out.extend_from_slice(serialized_context);
    out
}

/// The commitment key and the wrapping key, from Z, FixedInfo and the salt.
fn derive(z: &[u8], fixed: &[u8], salt: &[u8]) -> Result<Secret> {
    let mut okm = Zeroizing::new(vec![0u8; COMMITMENT_KEY_LEN + WRAPPING_KEY_LEN]);
    kbkdf_ctr_hmac_sha384(z, fixed, salt, &mut okm).map_err(crypto_error)?;
    Ok(okm)
}

fn crypto_error(e: CryptoError) -> Error {
    Error::from(e)
}

/// Unwraps an EDK ciphertext given the ECDH secret; the error says why not.
fn open_edk(
    z: &[u8],
    fixed: &[u8],
    ciphertext: &[u8],
    key_len: usize,
) -> std::result::Result<Secret, String> {
    let (salt, rest) = ciphertext.split_at(SALT_LEN);
    let (commitment, sealed) = rest.split_at(COMMITMENT_KEY_LEN);
    let okm = derive(z, fixed, salt).map_err(|e| e.to_string())?;
    if !ct_eq(&okm[..COMMITMENT_KEY_LEN], commitment) {
        return Err("its commitment key does not match (another key pair or encryption context)".into());
    }
    let key = AesGcm::new(&okm[COMMITMENT_KEY_LEN..]).map_err(|e| e.to_string())?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    match key.open(&ZERO_IV, fixed, &mut buf) {
        Some(plain) if plain.len() == key_len => Ok(Zeroizing::new(plain.to_vec())),
        Some(plain) => Err(format!(
            "it unwraps to {} bytes, not the suite's {key_len}",
            plain.len()
        )),
        None => Err("its wrapped data key does not authenticate".into()),
    }
}

impl RawEcdhKeyring {
    /// One decryption attempt on an EDK this keyring's keys match.
    fn try_edk(
        &self,
        own: &EcdhPrivateKey,
        peer: Peer,
        info: &ProviderInfo<'_>,
        ciphertext: &[u8],
        context: &[u8],
        key_len: usize,
    ) -> std::result::Result<Secret, String> {
        let want = SALT_LEN + COMMITMENT_KEY_LEN + key_len + TAG_LEN;
        if ciphertext.len() != want {
            return Err(format!(
                "its ciphertext is {} bytes, not {want}",
                ciphertext.len()
            ));
        }
        // Both points must be valid, as in the MPL, whichever is used.
        let recipient = EcdhPublicKey::from_compressed(self.curve, info.recipient)
            .map_err(|e| format!("its recipient key is invalid: {e}"))?;
        let sender = EcdhPublicKey::from_compressed(self.curve, info.sender)
            .map_err(|e| format!("its sender key is invalid: {e}"))?;
        let peer = match peer {
            Peer::Sender => &sender,
            Peer::Recipient => &recipient,
        };
        let z = own.agree(peer).map_err(|e| format!("ECDH failed: {e}"))?;
        let fixed = fixed_info(self.curve, info.sender, info.recipient, context);
        open_edk(&z, &fixed, ciphertext, key_len)
    }
}

impl Keyring for RawEcdhKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        let ephemeral;
        let (private, recipient) = match &self.scheme {
            Scheme::Static { own, peer } => (own, peer),
            Scheme::Ephemeral { recipient } => {
                ephemeral = EcdhPrivateKey::generate(self.curve).map_err(crypto_error)?;
                (&ephemeral, recipient)
            }
            Scheme::Discovery { .. } => {
                return Err(Error::Config(format!(
                    "{} only decrypts (discovery); encrypt with the recipient's public key",
                    self.describe()
                )))
            }
        };
        let (data_key, generated) = data_key_to_wrap(materials)?;
        let context = context::serialize(&materials.encryption_context)?;
        let sender = private.public_key().compressed();
        let fixed = fixed_info(self.curve, sender, recipient.compressed(), &context);
        let z = private.agree(recipient).map_err(crypto_error)?;

        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let okm = derive(&z, &fixed, &salt)?;
        let key = AesGcm::new(&okm[COMMITMENT_KEY_LEN..])?;
        // Zeroizing: the buffer holds the plaintext key until it is sealed.
        let mut sealed = Zeroizing::new(data_key.to_vec());
        let tag = key.seal(&ZERO_IV, &fixed, &mut sealed)?;

        let mut ciphertext = Vec::with_capacity(SALT_LEN + COMMITMENT_KEY_LEN + sealed.len() + TAG_LEN);
        ciphertext.extend_from_slice(&salt);
        ciphertext.extend_from_slice(&okm[..COMMITMENT_KEY_LEN]);
        ciphertext.extend_from_slice(&sealed);
        ciphertext.extend_from_slice(&tag);
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: serialize_provider_info(recipient.compressed(), sender),
            ciphertext,
        });
        if generated {
            materials.plaintext_data_key = Some(data_key);
        }
        Ok(())
    }

    fn on_decrypt(&self, materials: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        if let Scheme::Ephemeral { .. } = self.scheme {
            return Err(Error::Config(format!(
                "{} only encrypts (ephemeral); decrypt with the recipient's private key",
                self.describe()
            )));
        }
        // The filter: every ECDH EDK must have a well-formed provider info.
        let mut candidates = Vec::new();
        let mut other_curve = 0usize;
        for (i, edk) in edks.iter().enumerate() {
            if edk.provider_id != PROVIDER_ID && edk.provider_id != KMS_ECDH_PROVIDER_ID {
                continue;
            }
            let info = parse_provider_info(&edk.provider_info).map_err(|e| {
                Error::malformed(
                    Part::EncryptedDataKeys,
                    format!("encrypted data key {} ({}): {e}", i + 1, edk.provider_id),
                )
            })?;
            if info.curve != self.curve {
                other_curve += 1;
                continue;
            }
            if let Some((own, peer)) = self.peer_for(&info) {
                candidates.push((i, edk, info, own, peer));
            }
        }
        if candidates.is_empty() {
            let mut why = format!(
                "{}: none of the {} encrypted data keys is addressed to its keys",
                self.describe(),
                edks.len()
            );
            if other_curve > 0 {
                why.push_str(&format!(
                    " ({other_curve} raw ECDH key(s) are on another curve than {})",
                    self.curve
                ));
            }
            return Err(Error::NoDataKey(why));
        }
        let context = context::serialize(&materials.encryption_context)?;
        let key_len = materials.suite.key_len;
        let mut errors = Vec::new();
        for (i, edk, info, own, peer) in &candidates {
            match self.try_edk(own, *peer, info, &edk.ciphertext, &context, key_len) {
                Ok(key) => {
                    materials.plaintext_data_key = Some(key);
                    return Ok(());
                }
                Err(e) => errors.push(format!("encrypted data key {}: {e}", i + 1)),
            }
        }
        Err(Error::NoDataKey(format!(
            "{}: {} of the {} encrypted data keys are addressed to its keys but none decrypts: {}",
            self.describe(),
            candidates.len(),
            edks.len(),
            errors.join("; ")
        )))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::context::EncryptionContext;
    use crate::keyring::multi::MultiKeyring;
    use crate::keyring::raw_aes::RawAesKeyring;
    use crate::suite::AlgorithmSuite;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn enc_materials(suite: &'static AlgorithmSuite, ec: &EncryptionContext) -> EncryptionMaterials {
        EncryptionMaterials {
            suite,
            encryption_context: ec.clone(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
            encrypted_data_keys: Vec::new(),
        }
    }

    fn dec_materials(suite: &'static AlgorithmSuite, ec: &EncryptionContext) -> DecryptionMaterials {
        DecryptionMaterials {
            suite,
            encryption_context: ec.clone(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        }
    }

    fn pem_copy(k: &EcdhPrivateKey) -> EcdhPrivateKey {
        EcdhPrivateKey::from_pem(k.to_pkcs8_pem().unwrap().as_bytes()).unwrap()
    }

    struct Parties {
        sender: EcdhPrivateKey,
        recipient: EcdhPrivateKey,
    }

    impl Parties {
        fn new(curve: Curve) -> Self {
            Parties {
                sender: EcdhPrivateKey::generate(curve).unwrap(),
                recipient: EcdhPrivateKey::generate(curve).unwrap(),
            }
        }
        fn static_sender(&self) -> RawEcdhKeyring {
            RawEcdhKeyring::static_keys(pem_copy(&self.sender), self.recipient.public_key().clone()).unwrap()
        }
        fn static_recipient(&self) -> RawEcdhKeyring {
            RawEcdhKeyring::static_keys(pem_copy(&self.recipient), self.sender.public_key().clone()).unwrap()
        }
        fn ephemeral(&self) -> RawEcdhKeyring {
            RawEcdhKeyring::ephemeral(self.recipient.public_key().clone())
        }
        fn discovery(&self) -> RawEcdhKeyring {
            RawEcdhKeyring::discovery(pem_copy(&self.recipient))
        }
    }

    fn decrypts(
        kr: &dyn Keyring,
        suite: &'static AlgorithmSuite,
        ec: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<Secret> {
        let mut dm = dec_materials(suite, ec);
        kr.on_decrypt(&mut dm, edks)?;
        Ok(dm.plaintext_data_key.expect("a data key"))
    }

    #[test]
    fn every_scheme_curve_and_suite_round_trips() {
        let ec: EncryptionContext = [("purpose".to_string(), "test".to_string())].into();
        for curve in Curve::ALL {
            let p = Parties::new(curve);
            for suite in AlgorithmSuite::ALL {
                for (encryptor, who) in [(p.static_sender(), "static"), (p.ephemeral(), "ephemeral")] {
                    let mut em = enc_materials(suite, &ec);
                    encryptor.on_encrypt(&mut em).unwrap();
                    let key = em.plaintext_data_key.clone().unwrap();
                    let edk = &em.encrypted_data_keys[0];
                    assert_eq!(edk.provider_id, "raw-ecdh");
                    assert_eq!(edk.provider_info.len(), 9 + 2 * curve.compressed_len());
                    assert_eq!(edk.ciphertext.len(), 64 + suite.key_len + 16);
                    let info = parse_provider_info(&edk.provider_info).unwrap();
                    assert_eq!(info.recipient, p.recipient.public_key().compressed());
                    if who == "static" {
                        assert_eq!(info.sender, p.sender.public_key().compressed());
                    } else {
                        assert_ne!(info.sender, p.sender.public_key().compressed());
                    }
                    let mut openers = vec![p.discovery()];
                    if who == "static" {
                        openers.push(p.static_sender());
                        openers.push(p.static_recipient());
                    }
                    for opener in openers {
                        let got = decrypts(&opener, suite, &ec, &em.encrypted_data_keys)
                            .unwrap_or_else(|e| panic!("{curve} {suite} {who} by {opener:?}: {e}"));
                        assert_eq!(got, key);
                    }
                    // The static recipient cannot open an ephemeral sender's key.
                    if who == "ephemeral" {
                        assert!(
                            decrypts(&p.static_recipient(), suite, &ec, &em.encrypted_data_keys).is_err()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn schemes_refuse_the_operation_they_lack() {
        let p = Parties::new(Curve::P256);
        let suite = AlgorithmSuite::DEFAULT;
        let ec = EncryptionContext::new();
        let mut em = enc_materials(suite, &ec);
        assert!(matches!(p.discovery().on_encrypt(&mut em), Err(Error::Config(_))));
        assert!(em.encrypted_data_keys.is_empty() && em.plaintext_data_key.is_none());
        p.ephemeral().on_encrypt(&mut em).unwrap();
        let e = decrypts(&p.ephemeral(), suite, &ec, &em.encrypted_data_keys).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        // Curves must agree in the static scheme.
        let other = EcdhPrivateKey::generate(Curve::P384).unwrap();
        let e = RawEcdhKeyring::static_keys(pem_copy(&p.sender), other.public_key().clone()).unwrap_err();
        assert!(
            e.to_string().contains("P-256") && e.to_string().contains("P-384"),
            "{e}"
        );
    }

    #[test]
    fn the_context_and_third_parties_are_bound() {
        let p = Parties::new(Curve::P384);
        let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        let ec: EncryptionContext = [("a".to_string(), "b".to_string())].into();
        let mut em = enc_materials(suite, &ec);
        p.static_sender().on_encrypt(&mut em).unwrap();
        let edks = &em.encrypted_data_keys;
        let other: EncryptionContext = [("a".to_string(), "c".to_string())].into();
        let e = decrypts(&p.discovery(), suite, &other, edks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("commitment key does not match"), "{e}");
        assert!(decrypts(&p.discovery(), suite, &EncryptionContext::new(), edks).is_err());
        let stranger = Parties::new(Curve::P384);
        let e = decrypts(&stranger.discovery(), suite, &ec, edks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of the 1"), "{e}");
        // Same recipient key, but a static keyring with another peer.
        let kr = RawEcdhKeyring::static_keys(pem_copy(&p.recipient), stranger.sender.public_key().clone())
            .unwrap();
        assert!(decrypts(&kr, suite, &ec, edks).is_err());
        // A P-256 keyring names the curve mismatch.
        let e = decrypts(&Parties::new(Curve::P256).discovery(), suite, &ec, edks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another curve than P-256"), "{e}");
    }

    #[test]
    fn hostile_edks_fail_cleanly() {
        let p = Parties::new(Curve::P256);
        let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        let ec = EncryptionContext::new();
        let mut em = enc_materials(suite, &ec);
        p.ephemeral().on_encrypt(&mut em).unwrap();
        let good = em.encrypted_data_keys[0].clone();
        let n = Curve::P256.compressed_len();
        let run = |f: &dyn Fn(&mut EncryptedDataKey)| {
            let mut e = good.clone();
            f(&mut e);
            let mut dm = dec_materials(suite, &ec);
            let r = p.discovery().on_decrypt(&mut dm, &[e]);
            assert!(dm.plaintext_data_key.is_none());
            r.unwrap_err()
        };
        // Truncated, extended, wrong version, wrong length fields: malformed.
        for f in [
            &(|e: &mut EncryptedDataKey| e.provider_info.truncate(74)) as &dyn Fn(&mut EncryptedDataKey),
            &|e| e.provider_info.truncate(3),
            &|e| e.provider_info.clear(),
            &|e| e.provider_info.push(0),
            &|e| e.provider_info[0] = 2,
            &|e| e.provider_info[4] = 34,
            &|e| e.provider_info[1] = 1,
            &|e| e.provider_info[5 + n + 3] = 32,
        ] {
            let e = run(f);
            assert!(
                matches!(
                    e,
                    Error::Malformed {
                        part: Part::EncryptedDataKeys,
                        ..
                    }
                ),
                "{e}"
            );
            assert_eq!(e.kind(), crate::error::ErrorKind::Integrity);
        }
        // A sender point off the curve, at infinity's encoding, or with a bad tag.
        let sender_at = 9 + n;
        let off_curve = (1u8..).find(|&x| {
            let mut b = vec![0u8; n];
            b[0] = 2;
            b[n - 1] = x;
            EcdhPublicKey::from_compressed(Curve::P256, &b).is_err()
        });
        let off_curve = off_curve.unwrap();
        for f in [
            &(move |e: &mut EncryptedDataKey| {
                e.provider_info[sender_at..].fill(0);
                e.provider_info[sender_at] = 2;
                e.provider_info[sender_at + n - 1] = off_curve;
            }) as &dyn Fn(&mut EncryptedDataKey),
            &move |e| e.provider_info[sender_at..].fill(0),
            &move |e| e.provider_info[sender_at] = 4,
            &move |e| e.provider_info[sender_at + 1..].fill(0xff),
            &|e| e.ciphertext.truncate(100),
            &|e| e.ciphertext.clear(),
            &|e| e.ciphertext.push(0),
            &|e| e.ciphertext[40] ^= 1,
            &|e| *e.ciphertext.last_mut().unwrap() ^= 1,
            &|e| e.ciphertext[0] ^= 1,
        ] {
            let e = run(f);
            assert!(matches!(e, Error::NoDataKey(_)), "{e}");
            assert_eq!(e.kind(), crate::error::ErrorKind::Integrity);
        }
        // The AWS KMS ECDH keyring's provider id is read the same way.
        let mut kms = good.clone();
        kms.provider_id = KMS_ECDH_PROVIDER_ID.into();
        assert!(decrypts(&p.discovery(), suite, &ec, &[kms]).is_ok());
    }

    #[test]
    fn first_good_edk_wins_and_the_multi_keyring_carries_it() {
        let p = Parties::new(Curve::P521);
        let suite = AlgorithmSuite::DEFAULT;
        let ec: EncryptionContext = [("x".to_string(), "y".to_string())].into();
        let aes = || Box::new(RawAesKeyring::new("ns", "aes", &[1; 32]).unwrap()) as Box<dyn Keyring>;
        let multi = MultiKeyring::new(
            Some(Box::new(p.ephemeral())),
            vec![aes(), Box::new(p.static_sender())],
        )
        .unwrap();
        let mut em = enc_materials(suite, &ec);
        multi.on_encrypt(&mut em).unwrap();
        let key = em.plaintext_data_key.clone().unwrap();
        assert_eq!(em.encrypted_data_keys.len(), 3);
        let mut broken = em.encrypted_data_keys[0].clone();
        broken.ciphertext[70] ^= 1;
        let mut edks = vec![broken];
        edks.extend(em.encrypted_data_keys.iter().cloned());
        assert_eq!(decrypts(&p.discovery(), suite, &ec, &edks).unwrap(), key);
        assert_eq!(decrypts(&p.static_recipient(), suite, &ec, &edks).unwrap(), key);
        assert_eq!(decrypts(aes().as_ref(), suite, &ec, &edks).unwrap(), key);
        // A malformed ECDH EDK fails the ECDH child, not the multi-keyring.
        let mut bad = em.encrypted_data_keys[0].clone();
        bad.provider_info.pop();
        let edks = vec![bad, em.encrypted_data_keys[1].clone()];
        let dec = MultiKeyring::new(Some(Box::new(p.discovery())), vec![aes()]).unwrap();
        assert_eq!(decrypts(&dec, suite, &ec, &edks).unwrap(), key);
    }

    #[test]
    fn provider_info_round_trips() {
        let r = [2u8; 49];
        let s = [3u8; 49];
        let info = serialize_provider_info(&r, &s);
        assert_eq!(info.len(), 107);
        let parsed = parse_provider_info(&info).unwrap();
        assert_eq!(
            (parsed.curve, parsed.recipient, parsed.sender),
            (Curve::P384, &r[..], &s[..])
        );
    }

    /// The spec's worked example A (a Java ESDK 4.1.0 vector, P-256, static,
    /// suite 0x0214): FixedInfo, the KDF output and the unwrapped data key
    /// from the published shared secret.
    #[test]
    fn worked_example_from_a_java_vector() {
        let r = unhex("0258c5ffc078446ed99dd5b43a24a650ecfdab6e1886d6ec81a19276cad8c3fe35");
        let s = unhex("02a7520c7b4ab94784f227dcc7197dcddc108b3cf9715fec9be172e575c1610b19");
        let info = unhex(
            "01 00000021 0258c5ffc078446ed99dd5b43a24a650ecfdab6e1886d6ec81a19276cad8c3fe35
             00000021 02a7520c7b4ab94784f227dcc7197dcddc108b3cf9715fec9be172e575c1610b19",
        );
        let parsed = parse_provider_info(&info).unwrap();
        assert_eq!((parsed.recipient, parsed.sender), (&r[..], &s[..]));
        assert_eq!(serialize_provider_info(&r, &s), info);
        let z = unhex("96c10772505c8cc60f842c6610a8486615cbe1e0f1def98e4b082cddf2713d1f");
        let ec = unhex(
            "0001 0015 6177732d63727970746f2d7075626c69632d6b6579
             002c 4170717955626435347671634b4f524e3944504d6f466c576a464472702b67584d432f556a77444874635948",
        );
        let context: EncryptionContext = [(
            "aws-crypto-public-key".to_string(),
            "ApqyUbd54vqcKORN9DPMoFlWjFDrp+gXMC/UjwDHtcYH".to_string(),
        )]
        .into();
        assert_eq!(context::serialize(&context).unwrap(), ec);
        let fixed = fixed_info(Curve::P256, &s, &r, &ec);
        assert_eq!(fixed.len(), 177);
        assert_eq!(
            fixed[..37],
            unhex("656364682d6b65792d64657269766174696f6e 00 70323536 00 484d41435f534841333834 00")[..]
        );
        let ciphertext = unhex(
            "7e8b427dcb5b28760ffce24f72b9c5a76fd7e4d6bbda0bbf60db2202c62ec62d
             aaac5bb62aee9a74d5c6baa8792a5b4fd91daa94b8360d25ee6b2b08cc422673
             1cc2420c6575e100e0c9a6bd750298f0 41c170e37c5ed7de7898eb287ef39a96",
        );
        let okm = derive(&z, &fixed, &ciphertext[..32]).unwrap();
        assert_eq!(
            okm[..],
            unhex(
                "aaac5bb62aee9a74d5c6baa8792a5b4fd91daa94b8360d25ee6b2b08cc422673
                 3a8b3902cab67625b43b9f8baf46e126c03ba61a5365717d613c70f14ef9ad74"
            )[..]
        );
        let dk = open_edk(&z, &fixed, &ciphertext, 16).unwrap();
        assert_eq!(dk[..], unhex("4bba11042c3f79fb03bba2a7f16bbaa2")[..]);
        assert!(open_edk(&z, &fixed, &ciphertext, 32).is_err());
    }
}
