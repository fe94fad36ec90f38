//! CPU-heavy synchronous work called from async code (snapshot publish, list-cache rebuilds):
//! on a multi-threaded runtime the worker hands its other tasks to the rest of the pool while
//! the work runs, so a 100 ms publish does not stall the requests queued behind it.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` on this thread, first moving this worker's other tasks elsewhere when the
/// current runtime is multi-threaded; plainly otherwise (single-threaded runtimes, no runtime).
pub fn cpu_heavy<R>(work: impl FnOnce() -> R) -> R {
    let multi_threaded =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_threaded {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_without_a_runtime() {
        assert_eq!(cpu_heavy(|| 7), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn runs_on_a_single_threaded_runtime() {
        assert_eq!(cpu_heavy(|| 7), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_on_a_multi_threaded_runtime() {
        assert_eq!(cpu_heavy(|| 7), 7);
    }
}
