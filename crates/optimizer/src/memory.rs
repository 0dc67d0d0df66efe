//! Giving freed memory back to the operating system after a very large request.
//!
//! glibc's malloc keeps what a request freed in its arenas (one per thread of the blocking
//! pool) for reuse: after one `OptimizeOne` of 200,016 servers the server stayed at ~470 MB
//! resident, ~570 MB after a second, though nothing was live. `malloc_trim(0)` returns the free
//! pages of every arena (measured: back to ~60 MB). mimalloc was tried instead and kept 550 MB.
//! This is the workspace's one `unsafe` block.

/// Requests with more servers than this are followed by a trim.
pub const LARGE_REQUEST_SERVERS: usize = 1000;

/// Returns the free pages of every malloc arena to the OS (glibc on Linux; elsewhere nothing).
#[allow(unsafe_code)]
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no pointer
    // from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
