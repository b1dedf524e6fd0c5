//! Encryption-context parsing of arbitrary bytes: never panics, and whatever
//! parses serializes to the canonical form, which parses back to the same map.
#![no_main]

use envelope::internal::context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The header's length field bounds a real block to 65535 bytes.
    if data.len() > usize::from(u16::MAX) {
        return;
    }
    if let Ok(ec) = context::parse(data) {
        let canonical = context::serialize(&ec).expect("a parsed context re-serializes");
        // Canonical is never longer: it only drops the legacy `00 00` empty form
        // and reorders pairs.
        assert!(canonical.len() <= data.len());
        assert_eq!(context::parse(&canonical).expect("canonical form parses"), ec);
        if !ec.is_empty() {
            assert_eq!(canonical.len(), data.len());
        }
    }
});
