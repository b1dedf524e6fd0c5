//! What a hostile message can make the CLI do before any key opens it: its
//! unauthenticated strings reach the terminal escaped and bounded, its data
//! keys are counted against a default limit.

use envelope::format::{EncryptedDataKey, Header, Limits, Parsed};
use envelope::internal::edk::serialize_list;

use crate::support::cli::{aes_key, with, Env};

/// Whether `s` holds a character that would reach the terminal raw: a
/// control character other than the line ends, or an invisible one.
fn has_raw_controls(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\n') || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')
    })
}

/// The header of `msg`, and where its encrypted-data-key list starts and ends.
fn edk_list_span(msg: &[u8]) -> (Header, usize, usize) {
    let Ok(Parsed::Done(h, _)) = Header::parse(msg, &Limits::default()) else {
        panic!("not a message")
    };
    let aad_len = u16::from_be_bytes([msg[35], msg[36]]) as usize;
    assert_eq!(msg[0], 2, "a version 2 message");
    let start = 1 + 2 + 32 + 2 + aad_len;
    let end = start + serialize_list(&h.encrypted_data_keys).unwrap().len();
    (h, start, end)
}

/// `msg` with its EDK list replaced by `edks` (the header tag no longer
/// verifies, but the keys are tried before it is checked).
fn with_edks(msg: &[u8], edks: &[EncryptedDataKey]) -> Vec<u8> {
    let (_, start, end) = edk_list_span(msg);
    let mut out = msg[..start].to_vec();
    out.extend(serialize_list(edks).unwrap());
    out.extend(&msg[end..]);
    out
}

#[test]
fn duplicate_context_keys_with_control_characters_come_out_escaped() {
    let env = Env::new();
    env.write("p", b"secret");
    let aes = aes_key(&env);
    let (a, b) = ("k\x1b]0;owned\x07\u{202e}A", "k\x1b]0;owned\x07\u{202e}B");
    let (ca, cb) = (format!("{a}=1"), format!("{b}=2"));
    env.ok(&with(
        &["encrypt", "-i", "p", "-o", "p.enc", "-c", &ca, &cb],
        &aes,
    ));
    let mut msg = env.read("p.enc");
    // The second key becomes the first: a duplicate, refused while parsing.
    let at = msg.windows(b.len()).position(|w| w == b.as_bytes()).unwrap();
    *msg.get_mut(at + b.len() - 1).unwrap() = b'A';
    env.write("dup.enc", &msg);
    for args in [
        with(&["decrypt", "-i", "dup.enc", "-o", "out"], &aes),
        vec!["inspect", "dup.enc"],
    ] {
        let err = env.fails(&args, 1);
        assert!(err.contains("duplicate key"), "{err}");
        assert!(!has_raw_controls(&err), "{err:?}");
        assert!(err.contains(r"k\x1b]0;owned\x07\u{202e}A"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    // A valid message with such keys: inspect's text escapes them, its JSON
    // stays JSON with the same strings, and -vv shows them escaped.
    let out = env.ok(&["inspect", "p.enc"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!has_raw_controls(&text), "{text:?}");
    assert!(text.contains(r"k\x1b]0;owned\x07\u{202e}B = 2"), "{text}");
    let out = env.ok(&["inspect", "--json", "p.enc"]);
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(!has_raw_controls(&json), "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["encryption_context"][a], "1", "{json}");
    assert_eq!(v["encryption_context"][b], "2", "{json}");
    let out = env.ok(&with(&["-vv", "decrypt", "-i", "p.enc", "-o", "p.out"], &aes));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(r"\x1b]0;owned\x07\u{202e}B"), "{err}");
    assert!(!has_raw_controls(&err), "{err:?}");
}

#[test]
fn verbose_listing_escapes_provider_ids_and_info() {
    let env = Env::new();
    env.write("p", b"secret");
    let aes = aes_key(&env);
    let hostile = "namespace=ns\x1b[2J\x1b[1;1H\u{200b}";
    let name = "name=key\x1b]52;c;cGF3bmVk\x07";
    let second = ["-w", "provider=raw-aes", "key=aes.key", hostile, name];
    env.ok(&with(
        &with(&["encrypt", "-i", "p", "-o", "p.enc"], &aes),
        &second,
    ));
    // The message opens with the first key; -v lists both of its data keys.
    let out = env.ok(&with(&["-v", "decrypt", "-i", "p.enc", "-o", "p.out"], &aes));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(r"ns\x1b[2J\x1b[1;1H\u{200b}"), "{err}");
    assert!(!has_raw_controls(&err), "{err:?}");
    let out = env.ok(&["inspect", "p.enc"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r"ns\x1b[2J\x1b[1;1H\u{200b}"), "{text}");
    assert!(!has_raw_controls(&text), "{text:?}");
}

#[test]
fn aws_kms_provider_info_with_control_characters_comes_out_escaped() {
    let env = Env::new();
    env.write("p", b"secret");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    let msg = env.read("p.enc");
    let (h, _, _) = edk_list_span(&msg);
    let mut edk = h.encrypted_data_keys[0].clone();
    assert_eq!(edk.provider_id, "aws-kms");
    let arn = String::from_utf8(edk.provider_info.clone()).unwrap();
    let forged = arn.replace(":key/", ":key/\x1b[8m\u{202e}");
    edk.provider_info = forged.into_bytes();
    env.write("forged.enc", &with_edks(&msg, &[edk]));
    for args in [
        &["decrypt", "-i", "forged.enc", "-o", "out"][..],
        &["inspect", "forged.enc"],
    ] {
        let out = env.run(args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!has_raw_controls(&all), "{args:?}: {all:?}");
        if args[0] == "decrypt" {
            // Not a key of this store, nor a key at all: the message was altered.
            assert_eq!(out.status.code(), Some(1), "{all}");
        }
    }
}

/// 65,535 aws-kms data keys, each of which fails: the error says so in one
/// line of bounded length, not megabytes.
#[test]
fn an_error_about_65535_data_keys_is_one_bounded_line() {
    let env = Env::new();
    env.write("p", b"secret");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    let msg = env.read("p.enc");
    let (h, _, _) = edk_list_span(&msg);
    let mut edk = h.encrypted_data_keys[0].clone();
    edk.ciphertext = b"not a ciphertext blob".to_vec();
    let many = vec![edk; 65_535];
    env.write("many.enc", &with_edks(&msg, &many));
    let args = [
        "decrypt",
        "-i",
        "many.enc",
        "-o",
        "out",
        "--max-encrypted-data-keys",
        "65535",
    ];
    let err = env.fails(&args, 1);
    assert_eq!(err.lines().count(), 1, "{}", err.len());
    assert!(err.len() < 4200, "{} bytes", err.len());
    assert!(err.trim_end().ends_with("more bytes)"), "{err}");
    // The default limit refuses it before any key is tried.
    let err = env.fails(&args[..5], 2);
    assert!(err.contains("--max-encrypted-data-keys"), "{err}");
}

#[test]
fn a_default_limit_refuses_messages_with_many_data_keys() {
    let env = Env::new();
    env.write("p", b"secret");
    let aes = aes_key(&env);
    let names: Vec<String> = (0..33).map(|i| format!("name=k{i}")).collect();
    let mut args = vec!["encrypt", "-i", "p", "-o", "p.enc"];
    for n in &names {
        args.extend(["-w", "provider=raw-aes", "key=aes.key", "namespace=tests", n]);
    }
    // Encrypt has no default limit: the user chose the keys.
    env.ok(&args);
    let mut aes = aes.clone();
    aes[4] = "name=k0";
    let err = env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "out"], &aes), 2);
    assert!(
        err.contains("33 exceeds the maximum of 32") && err.contains("--max-encrypted-data-keys"),
        "{err}"
    );
    assert!(!env.path("out").exists());
    let err = env.fails(
        &with(&["rewrap", "-i", "p.enc", "-o", "new.enc", "-u"], &aes[1..]),
        2,
    );
    assert!(err.contains("--max-encrypted-data-keys"), "{err}");
    env.ok(&with(
        &[
            "decrypt",
            "-i",
            "p.enc",
            "-o",
            "out",
            "--max-encrypted-data-keys",
            "33",
        ],
        &aes,
    ));
    assert_eq!(env.read("out"), b"secret");
    let help = env.ok(&["decrypt", "--help"]);
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("default 32"), "{help}");
}
