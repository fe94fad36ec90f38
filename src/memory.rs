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
//! measurable CPU), no "fast bins" (below), a fixed 256 KiB mmap threshold (large buffers —
//! list caches, store vectors — are mapped and unmapped as a whole) and a 1 MiB trim
//! threshold. [`release_free_memory`] runs after each scrape cycle and hands free pages back.
//!
//! Fast bins: glibc parks freed blocks of up to 128 bytes in them without merging them, and
//! merges all of them at once, holding the arena's lock, at the next large allocation or
//! free. Replacing a snapshot frees one such block per pod (150,000 at 5,000 nodes), so the
//! next merge held the only arena's lock for about 20 ms, and every request that needed
//! memory meanwhile waited: the gets arriving just after each publish took 10–25 ms. Without
//! fast bins each free merges its own block (the old snapshot's drop takes ~15 ms longer on
//! the scraper's thread) and no request waits for a merge of the whole snapshot.

/// Allocations of at least this many bytes are mapped and unmapped on their own (a system call
/// pair each): keep per-request buffers below it.
pub const MMAP_THRESHOLD: usize = 256 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // FFI calls into the C allocator (other unsafe: prefetch.rs, stage_cpu.rs).
mod glibc {
    use libc::{M_ARENA_MAX, M_MMAP_THRESHOLD, M_MXFAST, M_TRIM_THRESHOLD};

    pub fn tune() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads
        // allocate heavily, and each call is independent.
        unsafe {
            libc::mallopt(M_ARENA_MAX, 1);
            libc::mallopt(M_MXFAST, 0); // no fast bins (module doc)
            libc::mallopt(M_MMAP_THRESHOLD, super::MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
        }
    }

    /// Bytes of freed blocks waiting in fast bins, unmerged.
    #[cfg(test)]
    pub fn fast_bin_bytes() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's statistics (glibc 2.33 and later).
        unsafe { libc::mallinfo2().fsmblks }
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

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn freed_small_blocks_are_merged_at_once_not_parked_for_one_long_merge() {
        tune_allocator();
        // Other tests' threads may have left blocks in arenas made before the tuning (the
        // server tunes before any thread starts): only what these frees add counts.
        let before = glibc::fast_bin_bytes();
        // As a snapshot's drop frees its pods' usages: many small blocks, freed in a row,
        // more than the thread's own cache holds. (The vector's own buffer stays: freeing a
        // large block would merge them anyway.)
        let mut blocks: Vec<Box<[u8; 80]>> = (0..20_000).map(|_| Box::new([1u8; 80])).collect();
        blocks.clear();
        let parked = glibc::fast_bin_bytes().saturating_sub(before);
        drop(blocks);
        assert_eq!(
            parked, 0,
            "freed blocks wait in fast bins for a merge that holds the arena lock"
        );
    }
}
