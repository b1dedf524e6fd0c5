//! EDK-list parsing of arbitrary bytes with an arbitrary maximum: never
//! panics, honours the maximum, and the encoding is canonical (what parses
//! re-serializes to exactly the bytes consumed).
#![no_main]

use envelope::format::Parsed;
use envelope::internal::edk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&m, list)) = data.split_first() else {
        return;
    };
    // 0 means "no limit"; otherwise a small limit the fuzzer can hit.
    let max = (m != 0).then_some(u16::from(m));
    match edk::parse_list(list, max) {
        Ok(Parsed::Done(edks, n)) => {
            assert!(n <= list.len());
            assert!(!edks.is_empty());
            if let Some(max) = max {
                assert!(edks.len() <= usize::from(max));
            }
            assert_eq!(edk::serialize_list(&edks).expect("re-serializes"), &list[..n]);
        }
        Ok(Parsed::Incomplete(more)) => assert!(more >= 1),
        Err(_) => {}
    }
});
