//! CPU time and memory of a process from `/proc/<pid>/stat` and `/proc/<pid>/status`, and
//! how busy the whole machine was from `/proc/stat`. Linux only.

use std::time::Duration;

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on every Linux
/// architecture we run on).
const CLK_TCK: u64 = 100;

/// A process's CPU time (user + system, all threads) so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / CLK_TCK))
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
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_some());
        let mem = memory(pid).unwrap();
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib);
        assert!(machine_cpu().total > 0);
        let hard = open_files_hard_limit().unwrap_or(u64::MAX);
        assert!(hard >= 256, "hard open-files limit {hard}");
    }
}
