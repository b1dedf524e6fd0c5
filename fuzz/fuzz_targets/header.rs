//! Header parsing of arbitrary bytes: never panics, never over-allocates,
//! and a parsed header re-reads identically from its own raw bytes.
#![no_main]

use envelope::format::{header, Limits, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_encrypted_data_keys: Some(64),
        ..Limits::default()
    };
    if let Ok(Parsed::Done(h, n)) = header::parse(data, &limits) {
        assert!(n <= data.len());
        assert_eq!(&data[..h.raw_body.len()], &h.raw_body[..]);
        assert_eq!(n, h.len());
    }
});
