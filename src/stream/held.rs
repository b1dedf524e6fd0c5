//! [`HeldPlaintext`]: a place to hold a whole message's plaintext until it
//! has verified, that leaves no copy behind in freed memory.

use std::io::{self, Write};

use zeroize::Zeroizing;

/// The first block's size; each next block is twice the last, up to [`MAX_BLOCK`].
const FIRST_BLOCK: usize = 64 * 1024;
/// The largest block.
const MAX_BLOCK: usize = 8 * 1024 * 1024;

/// A [`Write`] sink that holds everything written to it in memory, in blocks
/// that are allocated once at their full size, never grown, and wiped when
/// dropped.
///
/// Why not a `Zeroizing<Vec<u8>>`: a `Vec` that grows moves its bytes to a
/// larger allocation and frees the old one unwiped, so holding a message's
/// plaintext that way leaves copies of it in freed memory. Holds any amount:
/// the caller bounds it (see [`HeldPlaintext::len`]).
///
/// ```
/// use std::io::Write;
/// use envelope::stream::HeldPlaintext;
///
/// let mut held = HeldPlaintext::new();
/// held.write_all(b"verified ")?;
/// held.write_all(b"plaintext")?;
/// let mut out = Vec::new();
/// held.write_to(&mut out)?;
/// assert_eq!(out, b"verified plaintext");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default)]
pub struct HeldPlaintext {
    blocks: Vec<Zeroizing<Vec<u8>>>,
    len: usize,
}

impl std::fmt::Debug for HeldPlaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeldPlaintext({} bytes)", self.len)
    }
}

impl HeldPlaintext {
    /// An empty holder; it allocates nothing until written to.
    pub fn new() -> HeldPlaintext {
        HeldPlaintext::default()
    }

    /// The bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes everything held to `w`, in order.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        self.blocks.iter().try_for_each(|b| w.write_all(b))
    }
}

impl Write for HeldPlaintext {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.blocks.last().map_or(0, |b| b.capacity() - b.len());
        if room == 0 && !buf.is_empty() {
            let size = self
                .blocks
                .last()
                .map_or(FIRST_BLOCK, |b| (b.capacity() * 2).min(MAX_BLOCK));
            self.blocks.push(Zeroizing::new(Vec::with_capacity(size)));
        }
        let Some(block) = self.blocks.last_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(block.capacity() - block.len());
        // Within the capacity: never reallocates.
        block.extend_from_slice(&buf[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_in_order_across_blocks_without_growing_any() {
        let mut held = HeldPlaintext::new();
        assert!(held.is_empty());
        let data: Vec<u8> = (0..3 * MAX_BLOCK as u32 + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        for piece in data.chunks(70_001) {
            held.write_all(piece).unwrap();
        }
        assert_eq!(held.len(), data.len());
        let mut out = Vec::new();
        held.write_to(&mut out).unwrap();
        assert_eq!(out, data);
        let mut size = FIRST_BLOCK;
        for b in &held.blocks {
            assert_eq!(b.capacity(), size);
            size = (size * 2).min(MAX_BLOCK);
        }
        assert_eq!(
            format!("{held:?}"),
            format!("HeldPlaintext({} bytes)", data.len())
        );
    }
}
