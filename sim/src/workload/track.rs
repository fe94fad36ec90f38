//! True usage over time and the counters derived from it: piecewise-constant CPU rates
//! integrated exactly (millicore-nanoseconds in u128), restarts that reset a container's
//! counter and move its start time.

use super::{ContainerSample, DiskUsage, SimContainer, TrueUsage};
use metrics_server::time::NANOS_PER_SEC;
use metrics_server::time::Timestamp;

/// One CPU rate in force from `from` on.
#[derive(Copy, Clone, Debug)]
pub(super) struct RateSegment {
    pub(super) from: Timestamp,
    pub(super) millicores: u64,
}

/// A container's true usage over time.
#[derive(Clone, Debug)]
pub(super) struct UsageTrack {
    pub(super) segments: Vec<RateSegment>,
    pub(super) memory_bytes: u64,
    pub(super) disk: DiskTrack,
}

/// A container's swap and ephemeral storage over time: the root filesystem grows by
/// `rootfs_growth_per_sec` for each whole second after `since`.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct DiskTrack {
    pub(super) at_since: DiskUsage,
    pub(super) rootfs_growth_per_sec: u64,
    pub(super) since: Timestamp,
}

impl DiskTrack {
    /// The disk usage at `at`.
    pub(super) fn at(&self, at: Timestamp) -> DiskUsage {
        let seconds = u64::try_from(at.nanos_since(self.since) / NANOS_PER_SEC).unwrap_or(0);
        DiskUsage {
            rootfs_bytes: (self.at_since.rootfs_bytes)
                .saturating_add(self.rootfs_growth_per_sec.saturating_mul(seconds)),
            ..self.at_since
        }
    }
}

pub(super) fn current_usage(track: &UsageTrack) -> TrueUsage {
    TrueUsage {
        cpu_millicores: track.segments.last().map_or(0, |s| s.millicores),
        memory_bytes: track.memory_bytes,
    }
}

/// Start of the run in progress at `at` (the first start before it).
pub(super) fn latest_start(c: &SimContainer, at: Timestamp) -> Timestamp {
    match c.restart_every_ns {
        Some(period) if period > 0 && at > c.first_start => {
            let runs = at.nanos_since(c.first_start) / period;
            Timestamp(c.first_start.0 + runs * period)
        }
        _ => c.first_start,
    }
}

pub(super) fn sample_container(
    c: &SimContainer,
    track: &UsageTrack,
    at: Timestamp,
) -> ContainerSample {
    let start = latest_start(c, at);
    ContainerSample {
        start,
        cpu_counter_ns: to_ns(integral(track, start, at)),
        usage: current_usage(track),
        disk: track.disk.at(at),
    }
}

/// ∫ rate dt over `[from, to]`, in millicore-nanoseconds.
pub(super) fn integral(track: &UsageTrack, from: Timestamp, to: Timestamp) -> u128 {
    let mut total = 0u128;
    for (i, seg) in track.segments.iter().enumerate() {
        let seg_end = track
            .segments
            .get(i + 1)
            .map_or(to, |next| next.from.min(to));
        let lo = seg.from.max(from);
        if seg_end > lo {
            let span = u128::try_from(seg_end.nanos_since(lo)).unwrap_or(0);
            total += u128::from(seg.millicores) * span;
        }
    }
    total
}

pub(super) fn to_ns(millicore_ns: u128) -> u64 {
    u64::try_from(millicore_ns / 1000).unwrap_or(u64::MAX)
}
