//! Reading key files given with `-w`: the bytes (wiped when dropped), and a
//! warning when a file that holds a secret key is open to other users.
//!
//! ssh refuses a private key file that group or others may read; envelope
//! warns instead (a nightly backup should not stop over a mode bit), once per
//! file, on stderr, even under `-q`: a key others can read is a key that may
//! already be copied, and the user must learn it to rotate it.

use std::fs::File;
use std::io::Read;

use zeroize::Zeroizing;

use super::error::CliError;
use super::ui::Ui;

/// A key file's bytes and its permission bits (`None` where the platform has none).
pub(super) struct KeyFile {
    pub bytes: Zeroizing<Vec<u8>>,
    mode: Option<u32>,
}

impl KeyFile {
    /// Reads `path` whole; `what` names it in errors ("key file", "-w ... sender-key").
    /// The mode comes from the open file, so it is the mode of the bytes read.
    pub(super) fn read(path: &str, what: &str) -> Result<KeyFile, CliError> {
        let fail = |e| CliError::io(format!("{what} {path}"), e);
        let mut file = File::open(path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.read_to_end(&mut bytes).map_err(fail)?;
        Ok(KeyFile {
            bytes,
            mode: mode_of(&meta),
        })
    }

    /// Warns, once, when this file holds a secret key and group or others
    /// may read or change it.
    pub(super) fn warn_if_exposed(&self, path: &str, ui: &Ui) {
        if let Some(line) = exposure(path, self.mode) {
            ui.warning(line);
        }
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> Option<u32> {
    None
}

/// The warning for a secret key file of `mode`, if group or others have any
/// access to it (ssh's test: `mode & 0o077`).
fn exposure(path: &str, mode: Option<u32>) -> Option<String> {
    let mode = mode? & 0o7777;
    if mode & 0o077 == 0 {
        return None;
    }
    let how = if mode & 0o022 != 0 {
        "read or changed"
    } else {
        "read"
    };
    Some(format!(
        "warning: key file {path} holds a secret key that other users can {how} (mode {mode:04o}); \
         it is used anyway: restrict it with chmod 600 {path}"
    ))
}

#[cfg(test)]
mod tests {
    use super::exposure;

    #[test]
    fn only_group_or_other_access_is_reported() {
        for private in [0o600, 0o400, 0o700, 0o100600] {
            assert_eq!(exposure("k", Some(private)), None, "{private:o}");
        }
        let read = exposure("k", Some(0o100644)).expect("0644 is exposed");
        assert!(
            read.contains("can read (mode 0644)") && read.contains("chmod 600 k"),
            "{read}"
        );
        let write = exposure("k", Some(0o620)).expect("0620 is exposed");
        assert!(write.contains("read or changed"), "{write}");
        assert_eq!(exposure("k", None), None);
    }
}
