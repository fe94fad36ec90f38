//! Keeping the resident set close to the live heap (glibc's allocator only; musl's and other
//! allocators give memory back on their own).
//!
//! Measured at 5,000 nodes (heaptrack): the live heap peaked at ~740 MB while the RSS was
//! ~1,150 MB. The rest was free memory glibc kept: one arena per thread that ever allocated
//! (up to 8 per core), a mmap threshold that grows after every large free (so later large
//! buffers come from the heap and fragment it), and free pages in the middle of arenas that
//! are only returned by `malloc_trim`.
//!
//! [`tune_allocator`] runs once at start-up: one arena (threads still allocate small blocks
//! from their own caches; a second arena cost 20 MiB of peak RSS at 5,000 nodes and no
//! measurable CPU), a fixed 256 KiB mmap threshold (large buffers — list caches, store vectors
//! — are mapped and unmapped as a whole) and a 1 MiB trim threshold. [`release_free_memory`]
//! runs after each scrape cycle and hands free pages back.

/// Allocations of at least this many bytes are mapped and unmapped on their own (a system call
/// pair each): keep per-request buffers below it.
pub const MMAP_THRESHOLD: usize = 256 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // FFI calls into the C allocator (other unsafe: prefetch.rs, stage_cpu.rs).
mod glibc {
    // From <malloc.h>; stable glibc ABI.
    const M_TRIM_THRESHOLD: libc::c_int = -1;
    const M_MMAP_THRESHOLD: libc::c_int = -3;
    const M_ARENA_MAX: libc::c_int = -8;

    pub fn tune() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads
        // allocate heavily, and each call is independent.
        unsafe {
            libc::mallopt(M_ARENA_MAX, 1);
            libc::mallopt(M_MMAP_THRESHOLD, super::MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim is thread-safe and only releases free memory.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Sets the allocator up for a long-running server with large, short-lived buffers.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

/// Returns free heap pages to the operating system (a few milliseconds; once per cycle).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
