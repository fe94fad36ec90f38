//! The server's periodic chores — checking the serving certificate files, dropping expired
//! authentication and authorization answers, releasing list caches no response read — on one
//! thread with one clock.
//!
//! Each chore used to be a timer task on the serving runtime. An idle server then woke a
//! worker more than once a second: every timer firing, plus the runtime's timer wheel waking
//! ahead of a far timer to move it down a level, plus the second worker the first one woke
//! (at 10 nodes without API load the workers took 0.07 of the server's 0.23 mcores). Here the
//! chores share one sleep: one wake per [`TICK`], on a thread that does nothing else, and the
//! serving runtime sleeps until a request or an event comes.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the housekeeping thread wakes; every chore's period is a multiple of it.
pub const TICK: Duration = Duration::from_secs(5);

type Run = Box<dyn FnMut() + Send>;

struct Chore {
    name: &'static str,
    /// Runs on every `every`-th tick.
    every: u64,
    run: Run,
}

/// Chores gathered during start-up, run by [`Chores::start`].
#[derive(Default)]
pub struct Chores {
    list: Vec<Chore>,
}

impl Chores {
    /// Runs `run` about every `period`: rounded up to whole ticks, at least one.
    pub fn every(
        &mut self,
        name: &'static str,
        period: Duration,
        run: impl FnMut() + Send + 'static,
    ) {
        self.list.push(Chore {
            name,
            every: ticks_in(period, TICK),
            run: Box::new(run),
        });
    }

    /// Runs the chores due at tick number `tick` (counted from 1).
    fn run_due(&mut self, tick: u64) {
        for chore in &mut self.list {
            if tick.is_multiple_of(chore.every) {
                tracing::trace!(chore = chore.name, "Housekeeping.");
                (chore.run)();
            }
        }
    }

    /// Starts the thread that runs the chores every `tick`; it stops when the returned
    /// handle is dropped.
    pub fn start(mut self, tick: Duration) -> std::io::Result<Housekeeper> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("housekeeping".into())
            // The chores read two small files and walk two maps: the default 2 MiB is
            // address space nobody uses.
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut tick_number = 0u64;
                // Nothing is ever sent: the sender's drop ends the wait at once.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    tick_number += 1;
                    self.run_due(tick_number);
                }
            })?;
        Ok(Housekeeper {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// Whole ticks in `period`, rounded up, at least one.
fn ticks_in(period: Duration, tick: Duration) -> u64 {
    let tick_ns = tick.as_nanos().max(1);
    let ticks = period.as_nanos().div_ceil(tick_ns);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// The running housekeeping thread; dropping it stops the thread and waits for the chore
/// in progress, if any.
pub struct Housekeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Housekeeper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    fn counter() -> (Arc<AtomicU64>, impl FnMut() + Send + 'static) {
        let n = Arc::new(AtomicU64::new(0));
        let m = n.clone();
        (n, move || {
            m.fetch_add(1, Ordering::Relaxed);
        })
    }

    #[test]
    fn periods_round_up_to_whole_ticks() {
        let tick = Duration::from_secs(5);
        assert_eq!(ticks_in(Duration::from_secs(5), tick), 1);
        assert_eq!(ticks_in(Duration::from_secs(10), tick), 2);
        assert_eq!(ticks_in(Duration::from_secs(15), tick), 3);
        assert_eq!(ticks_in(Duration::from_secs(7), tick), 2);
        assert_eq!(ticks_in(Duration::from_millis(1), tick), 1);
        assert_eq!(ticks_in(Duration::ZERO, tick), 1);
    }

    #[test]
    fn each_chore_runs_on_its_own_multiple_of_the_tick() {
        let mut chores = Chores::default();
        let (every_tick, run1) = counter();
        let (every_third, run3) = counter();
        chores.every("one", TICK, run1);
        chores.every("three", TICK * 3, run3);
        for tick in 1..=9 {
            chores.run_due(tick);
        }
        assert_eq!(every_tick.load(Ordering::Relaxed), 9);
        assert_eq!(every_third.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_thread_runs_chores_and_stops_when_dropped() {
        let mut chores = Chores::default();
        let (runs, run) = counter();
        chores.every("count", Duration::from_millis(10), run);
        let keeper = chores.start(Duration::from_millis(10)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::Relaxed) < 3 {
            assert!(Instant::now() < deadline, "chores did not run");
            std::thread::sleep(Duration::from_millis(5));
        }
        let stopping = Instant::now();
        drop(keeper);
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "the thread did not stop"
        );
        let after = runs.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            runs.load(Ordering::Relaxed),
            after,
            "a chore ran after the stop"
        );
    }
}
