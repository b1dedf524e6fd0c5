//! `decrypt --buffer` to stdout (or a device or FIFO): the plaintext is held
//! until the whole message has verified, then released at once.
//!
//! In memory, up to [`IN_MEMORY`] bytes, in the library's
//! [`HeldPlaintext`], whose blocks never grow and are wiped when dropped (a
//! growing `Vec` left copies of the plaintext in freed memory). Beyond that
//! the rest goes to an unnamed temporary file (`O_TMPFILE` in `$TMPDIR`,
//! mode 0600): it never has a name, so it is gone on every exit path, a
//! kill included, and memory stays bounded whatever the message's size.
//! A file output needs none of this: it is a temporary file that becomes the
//! output only after verification, so `--buffer` streams into it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use envelope::stream::HeldPlaintext;
use zeroize::Zeroizing;

/// The most plaintext held in memory; the rest waits in a temporary file.
pub const IN_MEMORY: usize = 64 * 1024 * 1024;

/// Plaintext held for `--buffer`.
#[derive(Default)]
pub struct Held {
    memory: HeldPlaintext,
    spill: Option<File>,
}

impl Held {
    /// Writes everything held to `out`, in order.
    pub fn release(self, out: &mut dyn Write) -> io::Result<()> {
        self.memory.write_to(out)?;
        if let Some(mut f) = self.spill {
            f.seek(SeekFrom::Start(0))?;
            let mut buf = Zeroizing::new(vec![0u8; 1024 * 1024]);
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.write_all(&buf[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.spill.is_none() && self.memory.len() + buf.len() <= IN_MEMORY {
            return self.memory.write(buf);
        }
        let file = match &mut self.spill {
            Some(f) => f,
            None => self.spill.insert(tempfile::tempfile().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "--buffer: cannot make a temporary file for plaintext over 64 MiB (in $TMPDIR): {e}"
                    ),
                )
            })?),
        };
        file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_over_the_memory_bound_waits_in_a_file_and_comes_out_in_order() {
        let mut held = Held::default();
        let data: Vec<u8> = (0..IN_MEMORY as u32 + 3_000_000)
            .map(|i| (i % 253) as u8)
            .collect();
        for piece in data.chunks(1 << 20) {
            held.write_all(piece).unwrap();
        }
        assert!(held.memory.len() <= IN_MEMORY);
        assert!(held.spill.is_some());
        let mut out = Vec::new();
        held.release(&mut out).unwrap();
        assert!(out == data);
    }
}
