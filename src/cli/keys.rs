//! Building keyrings from `-w` groups, as aws-encryption-cli spells them:
//! `-w provider=raw-aes key=PATH namespace=NS name=NAME` and
//! `-w provider=raw-rsa key=PEM_PATH namespace=NS name=NAME padding=...`.

use std::collections::BTreeMap;
use std::fs;

use base64::Engine as _;
use envelope::crypto::Secret;
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::Keyring;
use zeroize::Zeroizing;

use super::error::CliError;

/// Parses one `-w` group's `k=v` words.
fn parse_group(words: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("-w: expected key=value, got '{w}'")))?;
        if map.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(CliError::usage(format!("-w: '{k}' given twice in one group")));
        }
    }
    Ok(map)
}

fn take(map: &mut BTreeMap<String, String>, k: &str, provider: &str) -> Result<String, CliError> {
    map.remove(k)
        .ok_or_else(|| CliError::usage(format!("-w provider={provider}: missing {k}=")))
}

/// Reads an AES wrapping key file: 16/24/32 raw bytes, or that many bytes as base64 text.
fn read_aes_key(path: &str) -> Result<Secret, CliError> {
    let raw = Zeroizing::new(fs::read(path).map_err(|e| CliError::io(format!("key file {path}"), e))?);
    if matches!(raw.len(), 16 | 24 | 32) {
        return Ok(Secret::new(raw.to_vec()));
    }
    let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(k) if matches!(k.len(), 16 | 24 | 32) => Ok(Secret::new(k)),
        _ => Err(CliError::usage(format!(
            "key file {path}: expected a 16, 24 or 32 byte AES key, raw or base64"
        ))),
    }
}

/// One keyring from one `-w` group.
pub fn keyring_from_group(words: &[String]) -> Result<Box<dyn Keyring>, CliError> {
    let mut map = parse_group(words)?;
    let provider = map.remove("provider").unwrap_or_default();
    let lib = |e| CliError::from_lib("-w", e);
    let keyring: Box<dyn Keyring> = match provider.as_str() {
        "raw-aes" => {
            let path = take(&mut map, "key", &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let key = read_aes_key(&path)?;
            Box::new(RawAesKeyring::new(&ns, &name, &key).map_err(lib)?)
        }
        "raw-rsa" => {
            let path = take(&mut map, "key", &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let padding: RsaPadding = take(&mut map, "padding", &provider)?
                .parse()
                .map_err(|e| CliError::usage(format!("-w padding: {e}")))?;
            let pem =
                Zeroizing::new(fs::read(&path).map_err(|e| CliError::io(format!("key file {path}"), e))?);
            let is_private = pem.windows(11).any(|w| w == b"PRIVATE KEY");
            let (public, private) = if is_private {
                (None, Some(&pem[..]))
            } else {
                (Some(&pem[..]), None)
            };
            Box::new(RawRsaKeyring::new(&ns, &name, padding, public, private).map_err(lib)?)
        }
        "" => return Err(CliError::usage("-w: missing provider= (raw-aes or raw-rsa)")),
        other => return Err(CliError::usage(format!("-w: unknown provider '{other}'"))),
    };
    if let Some(k) = map.keys().next() {
        return Err(CliError::usage(format!(
            "-w provider={provider}: unknown option '{k}'"
        )));
    }
    Ok(keyring)
}

/// The keyring for all `-w` groups: one keyring, or a multi-keyring whose
/// first member generates the data key.
pub fn keyring_from_groups(groups: &[Vec<String>]) -> Result<Box<dyn Keyring>, CliError> {
    let mut rings = groups
        .iter()
        .map(|g| keyring_from_group(g))
        .collect::<Result<Vec<_>, _>>()?;
    match rings.len() {
        0 => Err(CliError::usage("no wrapping key given: use -w")),
        1 => Ok(rings.remove(0)),
        _ => {
            let generator = rings.remove(0);
            Ok(Box::new(
                MultiKeyring::new(Some(generator), rings).map_err(|e| CliError::from_lib("-w", e))?,
            ))
        }
    }
}
