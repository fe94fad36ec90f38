//! Swap and ephemeral storage of the generated cluster: every other node has swap (its
//! containers swap a little), a quarter of the pods have an `emptyDir` volume in use, every
//! container has a root filesystem and logs, and a third of the root filesystems grow (by up
//! to 1 KiB a second).
//!
//! Drawn from a random stream of their own, so the rest of the cluster (names, uids, times,
//! CPU and memory) is the same as without them for a given seed.

use super::track::DiskTrack;
use super::{DiskUsage, NodeDisk, SimNode, SimPod, UsageTrack};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Disk space is handed out in whole filesystem blocks.
const BLOCK: u64 = 4096;

/// What a kubelet counts for every pod beyond its containers and volumes: its `/etc/hosts`
/// (the 4 KiB every pod of the real captures in tests/fixtures shows).
pub const POD_OVERHEAD_BYTES: u64 = 4096;

/// Sets the disk of every node and container; returns each pod's `emptyDir` bytes.
pub(super) fn generate(
    seed: u64,
    nodes: &mut [SimNode],
    pods: &[SimPod],
    tracks: &mut [UsageTrack],
) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed.rotate_left(17) ^ 0x6469_736b_7377_6170);
    for (i, node) in nodes.iter_mut().enumerate() {
        let has_swap = i % 2 == 1;
        node.disk = NodeDisk {
            fs_base_bytes: rng.u64(8 * GIB..=40 * GIB) & !(BLOCK - 1),
            has_swap,
            system_swap_bytes: if has_swap {
                rng.u64(0..=256 * MIB) & !(BLOCK - 1)
            } else {
                0
            },
        };
    }
    let mut volumes = Vec::with_capacity(pods.len());
    for pod in pods {
        let empty_dir = if rng.usize(..4) == 0 {
            rng.u64(4 * KIB..=128 * MIB) & !(BLOCK - 1)
        } else {
            0
        };
        volumes.push(empty_dir);
        let swaps = nodes.get(pod.node).is_some_and(|n| n.disk.has_swap);
        for c in &pod.containers {
            let Some(track) = tracks.get_mut(c.id.0) else {
                continue;
            };
            track.disk = DiskTrack {
                at_since: DiskUsage {
                    rootfs_bytes: rng.u64(16 * KIB..=64 * MIB) & !(BLOCK - 1),
                    logs_bytes: rng.u64(0..=8 * MIB) & !(BLOCK - 1),
                    swap_bytes: if swaps {
                        rng.u64(0..=32 * MIB) & !(BLOCK - 1)
                    } else {
                        0
                    },
                },
                rootfs_growth_per_sec: if rng.usize(..3) == 0 {
                    rng.u64(1..=16) * 64
                } else {
                    0
                },
                since: c.first_start,
            };
        }
    }
    volumes
}
