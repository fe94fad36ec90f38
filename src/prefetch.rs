//! A cache prefetch hint for loops that chase one pointer per item through a heap larger than
//! the caches (the list builds read each pod's name, usage and labels from a different place).
//! Asking for item `i + k`'s memory while item `i` is encoded overlaps the misses with the
//! work instead of waiting for each in turn.

/// How many items ahead the loops ask for memory: enough to cover a miss while a few items
/// are worked on (16 measured the same as 8 in the list builds).
pub const AHEAD: usize = 8;

/// Asks the CPU to bring the cache line holding the start of `value` closer. Only a hint: it
/// reads nothing the program sees, never faults, and does nothing off x86-64.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)] // the SSE intrinsic is `unsafe` only for its target-feature check
    // SAFETY: SSE is part of the x86-64 baseline, and PREFETCHT0 performs no architectural
    // memory access (it cannot fault, even on an invalid address).
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
