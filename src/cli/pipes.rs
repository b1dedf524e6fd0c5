//! Larger pipe buffers for stdin and stdout.
//!
//! A Linux pipe holds 64 KiB by default, so a pipeline that moves gigabytes
//! through envelope (`tar c dir | envelope encrypt | ssh ...`) switches
//! between its processes every 64 KiB. At 1 MiB, the size of envelope's reads
//! and writes and the default limit for unprivileged users, the switches drop
//! sixteenfold. Best effort: where the descriptor is not a pipe or the system
//! allows less, nothing changes.

/// Pipe buffer size to ask for.
#[cfg(target_os = "linux")]
const PIPE_SIZE: usize = 1 << 20;

/// Widens the pipes behind stdin and stdout, if they are pipes.
pub fn widen_stdio() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::pipe::fcntl_setpipe_size(std::io::stdin(), PIPE_SIZE);
        let _ = rustix::pipe::fcntl_setpipe_size(std::io::stdout(), PIPE_SIZE);
    }
}
