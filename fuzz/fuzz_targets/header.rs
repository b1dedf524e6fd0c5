//! Header parsing of arbitrary bytes: never panics, never over-allocates,
//! a parsed header re-reads identically from its own raw bytes, and every
//! proper prefix of a header is reported incomplete rather than wrong.
#![no_main]

use envelope::format::{Limits, Parsed};
use envelope::internal::header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small EDK limit, so the "too many EDKs" path is reachable too.
    let limits = Limits {
        max_encrypted_data_keys: Some(64),
        ..Limits::default()
    };
    if let Ok(Parsed::Done(h, n)) = header::parse(data, &limits) {
        assert!(n <= data.len());
        assert_eq!(&data[..h.raw_body.len()], &h.raw_body[..]);
        assert_eq!(n, h.len());
        assert!(h.encrypted_data_keys.len() <= 64);
        // The parse is a pure function of the header's own bytes.
        assert_eq!(header::parse(&data[..n], &limits).ok(), Some(Parsed::Done(h, n)));
        // A cut header is incomplete, never an error: the streaming decryptor
        // relies on this to wait for more input instead of failing early.
        assert!(matches!(
            header::parse(&data[..n - 1], &limits),
            Ok(Parsed::Incomplete(_))
        ));
    }
});
