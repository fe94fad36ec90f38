//! What a node's pods may use: a busy but healthy node. Each node draws a target share of its
//! allocatable CPU and memory (between [`MIN_SHARE_PERCENT`] and [`MAX_SHARE_PERCENT`]); when
//! the usage drawn for its running containers plus its system overhead would exceed that
//! share, the containers are scaled down in proportion (each keeps at least 1 millicore and
//! one page while the budget allows it). Nodes already under their share keep their usage.
//!
//! The targets come from a random stream of their own, so the rest of the cluster (names,
//! uids, times) is the same as without the budget for a given seed.

use super::{PodPhase, SimNode, SimPod, UsageTrack};

/// The least share of allocatable a node with many pods is brought down to.
pub(super) const MIN_SHARE_PERCENT: u64 = 40;
/// The most a node's pods and overhead use of its allocatable CPU and memory.
pub(super) const MAX_SHARE_PERCENT: u64 = 80;
/// Memory is handed out in whole pages.
const PAGE: u64 = 4096;

/// The random stream of the per-node targets, derived from the workload's seed.
pub(super) fn targets_rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed.rotate_left(29) ^ 0x6e6f_6465_6275_6467)
}

/// Scales the usage of `node`'s running containers down to the node's drawn share.
pub(super) fn fit_node(
    rng: &mut fastrand::Rng,
    node: &SimNode,
    pods: &[SimPod],
    tracks: &mut [UsageTrack],
) {
    let cpu_share = rng.u64(MIN_SHARE_PERCENT..=MAX_SHARE_PERCENT);
    let memory_share = rng.u64(MIN_SHARE_PERCENT..=MAX_SHARE_PERCENT);
    let cpu_budget = share(node.allocatable.cpu_millicores, cpu_share)
        .saturating_sub(node.overhead.cpu_millicores);
    let memory_budget = share(node.allocatable.memory_bytes, memory_share)
        .saturating_sub(node.overhead.memory_bytes);
    let ids: Vec<usize> = node
        .pods
        .iter()
        .filter_map(|&i| pods.get(i))
        .filter(|p| p.phase == PodPhase::Running)
        .flat_map(|p| p.containers.iter().map(|c| c.id.0))
        .filter(|&id| id < tracks.len())
        .collect();
    let mut cpu: Vec<u64> = ids.iter().map(|&id| first_rate(&tracks[id])).collect();
    let mut memory: Vec<u64> = ids.iter().map(|&id| tracks[id].memory_bytes).collect();
    shrink_to(&mut cpu, cpu_budget, 1, 1);
    shrink_to(&mut memory, memory_budget, PAGE, PAGE);
    for ((&id, cpu), memory) in ids.iter().zip(cpu).zip(memory) {
        let track = &mut tracks[id];
        if let Some(segment) = track.segments.first_mut() {
            segment.millicores = cpu;
        }
        track.memory_bytes = memory;
    }
}

fn first_rate(track: &UsageTrack) -> u64 {
    track.segments.first().map_or(0, |s| s.millicores)
}

/// `percent` % of `amount`.
fn share(amount: u64, percent: u64) -> u64 {
    u64::try_from(u128::from(amount) * u128::from(percent) / 100).unwrap_or(u64::MAX)
}

/// Scales `values` down so that they sum to at most `budget`, when they exceed it: each keeps
/// `floor` (if the budget covers a floor for every value, else nothing), and shares the rest
/// of the budget in proportion to its value, rounded down to a multiple of `align`.
pub(super) fn shrink_to(values: &mut [u64], budget: u64, floor: u64, align: u64) {
    let total: u128 = values.iter().map(|&v| u128::from(v)).sum();
    if total <= u128::from(budget) {
        return;
    }
    let count = u64::try_from(values.len()).unwrap_or(u64::MAX);
    let floor = if count.saturating_mul(floor) <= budget {
        floor
    } else {
        0
    };
    let spare = u128::from(budget - count * floor);
    let align = align.max(1);
    for v in values.iter_mut() {
        let part = u64::try_from(u128::from(*v) * spare / total).unwrap_or(0);
        *v = floor + part / align * align;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_under_the_budget_stay_as_they_are() {
        let mut v = vec![100, 200, 300];
        shrink_to(&mut v, 600, 1, 1);
        assert_eq!(v, [100, 200, 300]);
    }

    #[test]
    fn values_over_the_budget_shrink_in_proportion_and_fit() {
        let mut v = vec![100, 200, 300, 1];
        shrink_to(&mut v, 304, 1, 1);
        assert!(v.iter().sum::<u64>() <= 304, "{v:?}");
        assert_eq!(v, [50, 100, 150, 1], "each keeps its floor");
        let mut pages = vec![10 * PAGE + 7, 30 * PAGE];
        shrink_to(&mut pages, 20 * PAGE, PAGE, PAGE);
        assert!(pages.iter().all(|p| p % PAGE == 0), "{pages:?}");
        assert!(pages.iter().sum::<u64>() <= 20 * PAGE);
    }

    #[test]
    fn a_budget_smaller_than_the_floors_gives_up_the_floors() {
        let mut v = vec![5; 10];
        shrink_to(&mut v, 4, 1, 1);
        assert!(v.iter().sum::<u64>() <= 4, "{v:?}");
    }
}
