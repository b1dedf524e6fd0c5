//! The build setting that keeps aws-lc's CPU-jitter entropy collector out of
//! the binary (`AWS_LC_SYS_NO_JITTER_ENTROPY=1` in `.cargo/config.toml`;
//! SECURITY.md, "Randomness", says why). Without it every process spends
//! 10-50 ms collecting jitter before its first random byte.
//!
//! The check reads the `envelope` binary that cargo built for these tests: the
//! collector's entry point `jent_entropy_init` is linked in exactly when the
//! collector is built. So that a stripped binary cannot pass by having no
//! names at all, an aws-lc name that every build has must be there.

use std::fs;

use crate::support::scrub;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn entropy_cpu_jitter_is_not_built_in() {
    let path = scrub::bin();
    let binary = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // aws-lc's DRBG, which every build links (envelope draws all its randomness from it).
    assert!(
        contains(&binary, b"RAND_bytes"),
        "{} has no aws-lc symbol names (stripped?): this check cannot tell what it holds",
        path.display()
    );
    assert!(
        !contains(&binary, b"jent_entropy_init"),
        "{} was built with aws-lc's CPU-jitter entropy collector: build from the clone \
         (its .cargo/config.toml sets AWS_LC_SYS_NO_JITTER_ENTROPY=1), and do not override it",
        path.display()
    );
}
