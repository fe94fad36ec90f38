//! CPU time of a process from its CPU clock (nanoseconds; `/proc/<pid>/stat`'s 10 ms ticks
//! when the clock cannot be read), memory from `/proc/<pid>/status`, and how busy the whole
//! machine was from `/proc/stat`. Linux only.

use std::time::Duration;

/// Clock ticks per second of `/proc` CPU times (`sysconf(_SC_CLK_TCK)`, `getconf CLK_TCK`),
/// as the kernel tells the process at start; `None` if it did not.
pub fn clock_ticks_per_second() -> Option<u64> {
    Some(rustix::param::clock_ticks_per_second()).filter(|&hz| hz > 0)
}

/// A process's CPU time (user + system, all threads, exited ones included) so far: the
/// process's CPU clock, exact to the nanosecond, or else `/proc`'s ticks. A server idling at
/// a third of a millicore uses two 10 ms ticks a minute, so ticks alone cannot tell it from
/// a floor at half of that.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    process_cpu_clock(pid).or_else(|| cpu_ticks(pid))
}

/// The process's CPU clock (`clock_getcpuclockid`): the scheduler's run time of all its
/// threads, living and exited.
#[allow(unsafe_code)] // Two libc calls; see the SAFETY notes.
fn process_cpu_clock(pid: u32) -> Option<Duration> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid, writable clockid_t that outlives the call.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The process's CPU time in `/proc/<pid>/stat`, counted in clock ticks.
fn cpu_ticks(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(utime.checked_add(stime)?, clock_ticks_per_second()?))
}

/// `ticks` of a clock running at `hz` (non-zero) as a duration, exact to the nanosecond.
fn ticks(ticks: u64, hz: u64) -> Duration {
    let nanos = u128::from(ticks % hz) * 1_000_000_000 / u128::from(hz);
    Duration::from_secs(ticks / hz) + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Memory figures of a process, in KiB.
#[derive(Copy, Clone, Debug, Default)]
pub struct Memory {
    /// Resident set now.
    pub rss_kib: u64,
    /// Peak resident set since start (`VmHWM`).
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Resident code of a process's own executable, in KiB: the `Rss` of its executable mappings
/// of that file in `/proc/<pid>/smaps` (shared libraries and data not counted). The release
/// link packs the functions the server runs (`link/`); when that list goes stale, this grows.
pub fn own_code_rss_kib(pid: u32) -> Option<u64> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    Some(code_rss_kib_in(&smaps, exe.to_str()?))
}

/// The `Rss` of the executable mappings of `path` in a `smaps` text.
fn code_rss_kib_in(smaps: &str, path: &str) -> u64 {
    let mut counting = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range, permissions, offset, device, inode, path.
            let perms = fields.next().unwrap_or("");
            let mapped = fields.nth(3).unwrap_or("");
            counting = perms.contains('x') && mapped == path;
        } else if counting && first == "Rss:" {
            kib += fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib
}

/// The hard open-files limit of this process (inherited by the processes it starts);
/// `None` when unlimited or unreadable.
pub fn open_files_hard_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// Machine-wide CPU counters (ticks), to tell how busy the machine was.
#[derive(Copy, Clone, Debug, Default)]
pub struct MachineCpu {
    pub busy: u64,
    pub total: u64,
}

pub fn machine_cpu() -> MachineCpu {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return MachineCpu::default();
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    let total: u64 = ticks.iter().take(8).sum();
    MachineCpu {
        busy: total.saturating_sub(idle),
        total,
    }
}

/// Number of CPUs the machine has.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The average busy cores between two readings of [`machine_cpu`].
pub fn busy_cores(before: MachineCpu, after: MachineCpu) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    let busy = after.busy.saturating_sub(before.busy);
    busy as f64 / total as f64 * cpu_count() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_agrees_with_the_ticks_and_is_finer() {
        let pid = std::process::id();
        let hz = clock_ticks_per_second().unwrap();
        let tick = Duration::from_secs(1) / u32::try_from(hz).unwrap();
        let mut spins = 0u64;
        for _ in 0..20_000_000 {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let (clock, ticks) = (process_cpu_clock(pid).unwrap(), cpu_ticks(pid).unwrap());
        // Both count every thread of this test binary; other tests run between the reads.
        let gap = clock.abs_diff(ticks);
        assert!(gap <= 10 * tick, "clock {clock:?}, ticks {ticks:?}");
        // Nanoseconds: two reads a few microseconds apart differ by less than a tick.
        let (a, b) = (
            process_cpu_clock(pid).unwrap(),
            process_cpu_clock(pid).unwrap(),
        );
        assert!(b >= a && b - a < tick, "{a:?} then {b:?}");
        assert_ne!(a.subsec_nanos() % 1_000_000, 0, "{a:?} looks tick-rounded");
    }

    #[test]
    fn a_process_gone_has_no_cpu_clock() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(process_cpu_clock(pid), None);
    }

    #[test]
    fn resident_code_counts_only_the_executable_mappings_of_the_file() {
        let smaps = "\
55d0-55e0 r--p 00000000 fd:01 7 /srv/metrics-server
Rss:                 400 kB
55e0-5600 r-xp 00010000 fd:01 7 /srv/metrics-server
Size:               8192 kB
Rss:                4096 kB
7f00-7f10 r-xp 00000000 fd:01 9 /usr/lib/libc.so.6
Rss:                1000 kB
7f20-7f30 rw-p 00000000 00:00 0
Rss:                 500 kB
";
        assert_eq!(code_rss_kib_in(smaps, "/srv/metrics-server"), 4096);
        assert_eq!(code_rss_kib_in(smaps, "/srv/other"), 0);
        let own = own_code_rss_kib(std::process::id()).unwrap();
        assert!(own > 0, "this test binary runs code of its own file");
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_some());
        let mem = memory(pid).unwrap();
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib);
        assert!(machine_cpu().total > 0);
        let hard = open_files_hard_limit().unwrap_or(u64::MAX);
        assert!(hard >= 256, "hard open-files limit {hard}");
    }

    #[test]
    fn ticks_convert_at_the_given_rate() {
        assert_eq!(ticks(250, 100), Duration::from_millis(2_500));
        assert_eq!(ticks(250, 250), Duration::from_secs(1));
        assert_eq!(ticks(1, 300), Duration::from_nanos(3_333_333));
        assert_eq!(ticks(u64::MAX, 1), Duration::from_secs(u64::MAX));
    }

    #[test]
    fn the_tick_rate_is_the_systems() {
        let hz = clock_ticks_per_second().expect("the kernel passes AT_CLKTCK");
        // `getconf` asks the C library, which reads the same auxiliary vector.
        let getconf = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output();
        if let Some(out) = getconf.ok().filter(|o| o.status.success()) {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.trim().parse::<u64>().ok(), Some(hz), "getconf CLK_TCK");
        }
    }

    #[test]
    fn cpu_time_of_a_busy_loop_is_within_what_the_wall_clock_allows() {
        let pid = std::process::id();
        let hz = clock_ticks_per_second().unwrap();
        let tick = Duration::from_secs(1) / u32::try_from(hz).unwrap();
        let before = cpu_time(pid).unwrap();
        let start = std::time::Instant::now();
        // Spin until the process has used 100 ms of CPU (several ticks at any rate).
        let mut spins = 0u64;
        let used = loop {
            for _ in 0..100_000 {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            let used = cpu_time(pid).unwrap() - before;
            if used >= Duration::from_millis(100) || start.elapsed() > Duration::from_secs(60) {
                break used;
            }
        };
        let wall = start.elapsed();
        assert!(
            used >= Duration::from_millis(100),
            "{used:?} of CPU in {wall:?}"
        );
        // No more CPU than every core for the whole time (other tests run alongside), give
        // or take the ticks at both ends; a wrong rate scales `used` past this.
        let cores = u32::try_from(cpu_count()).unwrap();
        assert!(
            used <= wall * cores + 2 * tick,
            "{used:?} of CPU in {wall:?} on {cores} cores"
        );
    }
}
