//! The raw ECDH provider-info parser, and everything a hostile provider info
//! reaches after it: point decompression and validation on the curve, and a
//! discovery keyring's whole decrypt. Never panics; what parses re-serializes
//! to the same bytes; a point that decompresses re-encodes to itself; and an
//! EDK made of fuzz bytes never decrypts.
#![no_main]

use std::sync::OnceLock;

use envelope::format::EncryptedDataKey;
use envelope::keyring::raw_ecdh::{
    parse_provider_info, serialize_provider_info, Curve, EcdhPrivateKey, EcdhPublicKey, RawEcdhKeyring,
};
use envelope::keyring::{DecryptionMaterials, Keyring};
use envelope::{AlgorithmSuite, EncryptionContext};
use libfuzzer_sys::fuzz_target;

/// One discovery keyring per curve.
fn keyrings() -> &'static [RawEcdhKeyring] {
    static K: OnceLock<Vec<RawEcdhKeyring>> = OnceLock::new();
    K.get_or_init(|| {
        Curve::ALL
            .into_iter()
            .map(|c| RawEcdhKeyring::discovery(EcdhPrivateKey::generate(c).expect("key generation")))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks what follows the info in the EDK ciphertext.
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(data.len());
    let (info, ciphertext) = data.split_at(data.len() - cut);
    if let Ok(p) = parse_provider_info(info) {
        assert_eq!(serialize_provider_info(p.recipient, p.sender), info);
        assert_eq!(p.recipient.len(), p.curve.compressed_len());
        assert_eq!(p.sender.len(), p.curve.compressed_len());
        for point in [p.recipient, p.sender] {
            for curve in Curve::ALL {
                if let Ok(k) = EcdhPublicKey::from_compressed(curve, point) {
                    assert_eq!(curve, p.curve);
                    assert_eq!(k.compressed(), point);
                    let again = EcdhPublicKey::from_spki_der(k.spki_der()).expect("its own SPKI parses");
                    assert_eq!(again, k);
                }
            }
        }
    }
    // SPKI parsing of the same bytes.
    if let Ok(k) = EcdhPublicKey::from_spki_der(info) {
        assert_eq!(k.spki_der(), info);
        assert_eq!(
            EcdhPublicKey::from_compressed(k.curve(), k.compressed()).as_ref(),
            Ok(&k)
        );
    }
    let edk = EncryptedDataKey {
        provider_id: "raw-ecdh".into(),
        provider_info: info.to_vec(),
        ciphertext: ciphertext.to_vec(),
    };
    for keyring in keyrings() {
        let mut m = DecryptionMaterials {
            suite: AlgorithmSuite::DEFAULT,
            encryption_context: EncryptionContext::new(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        };
        assert!(keyring.on_decrypt(&mut m, std::slice::from_ref(&edk)).is_err());
        assert!(m.plaintext_data_key.is_none());
    }
});
