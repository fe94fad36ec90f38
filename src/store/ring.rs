//! A small ring of one node's or one container's most recent samples, oldest first, with the
//! point rotation of spec §4.3 generalised from upstream's two slots (`prev`, `last`) to a
//! configurable depth.
//!
//! Rotation for a new point `p` (timestamps are the kubelet's clock):
//! * `p` newer than the newest point: appended, evicting the oldest point beyond the depth
//!   (upstream "`new.ts > last.ts` → `prev = last`").
//! * `p` at the same instant as a stored point (the kubelet re-reported a sample): not stored
//!   twice, so the existing pair stays and the window never becomes 0 (spec §4.2).
//! * `p` older than the newest point: every stored point at or after `p` is dropped, then `p` is
//!   appended (upstream "`prev < new < last`" keeps prev and replaces last). When `p` is older
//!   than every point the ring is just `p` (upstream "older than prev → drop prev").
//!
//! Upstream's quirk of §4.3 (a zero point becoming `prev`) cannot happen: the ring only ever
//! holds points the kubelet reported.
//!
//! The ring keeps one start time, its newest point's, which every point reads: a different
//! known start time resets the series (series.rs), so the points of one ring share it. (A
//! kubelet that alternates between reporting and omitting a start time could leave two known
//! start times in one ring; the older point then reads the newer one, so a rate between
//! those two is not refused for a start time going back.) A ring of three points takes 88
//! bytes instead of 104: 8.7 MB less across 543,000 containers.

use smallvec::SmallVec;

use crate::batch::MetricsPoint;
use crate::time::Timestamp;

/// Points held inside the ring itself: the default `--storage-ring-depth`. Deeper rings
/// spill to the heap.
const INLINE_POINTS: usize = 3;

/// Start time of a point whose start time is unknown (year 1677: no kubelet reports it).
const UNKNOWN_START: i64 = i64::MIN;

/// A point as the ring holds it: without its start time, which the ring keeps once.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Stored {
    timestamp: Timestamp,
    cpu_ns: u64,
    memory_bytes: u64,
}

impl From<MetricsPoint> for Stored {
    fn from(p: MetricsPoint) -> Self {
        Stored {
            timestamp: p.timestamp,
            cpu_ns: p.cpu_ns,
            memory_bytes: p.memory_bytes,
        }
    }
}

impl Stored {
    fn point(self, start_time: i64) -> MetricsPoint {
        MetricsPoint {
            timestamp: self.timestamp,
            start_time: (start_time != UNKNOWN_START).then_some(Timestamp(start_time)),
            cpu_ns: self.cpu_ns,
            memory_bytes: self.memory_bytes,
        }
    }
}

/// Samples of one series, strictly increasing in timestamp, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    /// The newest point's start time ([`UNKNOWN_START`] when it has none).
    start_time: i64,
    points: SmallVec<[Stored; INLINE_POINTS]>,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            start_time: UNKNOWN_START,
            points: SmallVec::new(),
        }
    }
}

impl Ring {
    /// The newest point.
    pub(crate) fn last(&self) -> Option<MetricsPoint> {
        self.points.last().map(|p| p.point(self.start_time))
    }

    /// The point before the newest one: the other end of the rate window.
    pub(crate) fn prev(&self) -> Option<MetricsPoint> {
        self.points
            .len()
            .checked_sub(2)
            .and_then(|i| self.points.get(i))
            .map(|p| p.point(self.start_time))
    }

    /// Number of stored points.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }

    /// Forgets everything but `point` (restart, rate error, or first sample).
    pub(crate) fn reset(&mut self, point: MetricsPoint) {
        self.points.clear();
        self.append(point);
    }

    /// Rotates `point` in (module docs); `depth` (at least 2) bounds the points kept.
    pub(crate) fn push(&mut self, point: MetricsPoint, depth: usize) {
        while self
            .points
            .last()
            .is_some_and(|newest| newest.timestamp > point.timestamp)
        {
            self.points.pop();
        }
        if self
            .points
            .last()
            .is_some_and(|newest| newest.timestamp == point.timestamp)
        {
            return;
        }
        // Evict before appending, so a full inline ring never spills to the heap.
        let excess = (self.points.len() + 1).saturating_sub(depth.max(2));
        if excess > 0 {
            self.points.drain(..excess);
        }
        self.append(point);
    }

    /// Appends `point` as the newest; its start time becomes the ring's.
    fn append(&mut self, point: MetricsPoint) {
        self.start_time = point.start_time.map_or(UNKNOWN_START, |t| t.0);
        self.points.push(point.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, cpu: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp::from_secs(secs),
            start_time: None,
            cpu_ns: cpu,
            memory_bytes: 1,
        }
    }

    fn times(ring: &Ring) -> Vec<i64> {
        ring.points.iter().map(|p| p.timestamp.secs()).collect()
    }

    fn ring_of(secs: &[i64], depth: usize) -> Ring {
        let mut ring = Ring::default();
        for &s in secs {
            ring.push(at(s, 0), depth);
        }
        ring
    }

    #[test]
    fn newer_points_are_appended_and_depth_is_bounded() {
        let ring = ring_of(&[10, 20, 30, 40], 3);
        assert_eq!(times(&ring), [20, 30, 40]);
        assert_eq!(ring.prev().map(|p| p.timestamp.secs()), Some(30));
        assert_eq!(ring.last().map(|p| p.timestamp.secs()), Some(40));
    }

    #[test]
    fn default_depth_never_allocates_and_deeper_rings_keep_every_point() {
        let ring = ring_of(&[10, 20, 30, 40, 50, 60], INLINE_POINTS);
        assert!(!ring.points.spilled(), "a full default ring stays inline");
        assert_eq!(times(&ring), [40, 50, 60]);
        let deep = ring_of(&[10, 20, 30, 40, 50, 60], 5);
        assert_eq!(times(&deep), [20, 30, 40, 50, 60]);
    }

    #[test]
    fn depth_below_two_still_keeps_a_pair() {
        let ring = ring_of(&[10, 20, 30], 1);
        assert_eq!(times(&ring), [20, 30]);
    }

    #[test]
    fn re_reported_sample_is_not_stored_twice() {
        let mut ring = ring_of(&[10, 20], 3);
        ring.push(at(20, 999), 3);
        assert_eq!(times(&ring), [10, 20]);
        assert_eq!(ring.last().map(|p| p.cpu_ns), Some(0), "first report kept");
    }

    #[test]
    fn point_between_prev_and_last_replaces_last() {
        let mut ring = ring_of(&[10, 30], 2);
        ring.push(at(20, 0), 2);
        assert_eq!(times(&ring), [10, 20]);
    }

    #[test]
    fn point_older_than_everything_resets() {
        let mut ring = ring_of(&[10, 20], 3);
        ring.push(at(5, 0), 3);
        assert_eq!(times(&ring), [5]);
        assert!(ring.prev().is_none());
    }

    #[test]
    fn point_between_older_entries_keeps_the_older_ones() {
        let mut ring = ring_of(&[10, 20, 30], 3);
        ring.push(at(15, 0), 3);
        assert_eq!(times(&ring), [10, 15]);
        let mut ring = ring_of(&[10, 20, 30], 3);
        ring.push(at(20, 0), 3);
        assert_eq!(
            times(&ring),
            [10, 20],
            "equal to a stored point: that point stays"
        );
    }

    #[test]
    fn every_point_reads_the_newest_start_time() {
        let started = |secs, start| MetricsPoint {
            start_time: Some(Timestamp::from_secs(start)),
            ..at(secs, 7)
        };
        let mut ring = Ring::default();
        ring.push(started(10, 3), 3);
        assert_eq!(ring.last(), Some(started(10, 3)), "start time kept");
        ring.push(started(20, 3), 3);
        assert_eq!(ring.prev(), Some(started(10, 3)));
        ring.push(at(30, 7), 3);
        assert_eq!(ring.last(), Some(at(30, 7)), "unknown stays unknown");
        assert_eq!(
            ring.prev(),
            Some(at(20, 7)),
            "the ring's start is its newest's"
        );
        ring.push(started(40, 3), 3);
        assert_eq!(ring.prev(), Some(started(30, 3)));
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        assert_eq!(std::mem::size_of::<Ring>(), 88, "three points inline");
    }

    #[test]
    fn reset_keeps_only_the_given_point() {
        let mut ring = ring_of(&[10, 20, 30], 3);
        ring.reset(at(31, 0));
        assert_eq!(ring.len(), 1);
        assert_eq!(times(&ring), [31]);
    }
}
