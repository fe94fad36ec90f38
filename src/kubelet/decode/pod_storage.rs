//! A pod's ephemeral storage as PodMetrics carry it: PodMetrics have no pod-level usage, only
//! containers, so the storage a pod uses beyond its containers is shared out over them.
//!
//! The kubelet's figure for a pod (`/stats/summary` `pods[].ephemeral-storage.usedBytes`, the
//! one its eviction manager compares with the sum of the containers' `ephemeral-storage`
//! limits) is each container's root filesystem and logs, plus the pod's local ephemeral
//! volumes (`emptyDir` not backed by memory, `configMap`, `gitRepo`), its log directory and
//! its `/etc/hosts`. A container's own figure is its `rootfs.usedBytes + logs.usedBytes`
//! (what the eviction manager compares with that container's own limit).
//!
//! The rest (pod total minus the containers' own figures) is added to the containers in
//! proportion to their own figures (evenly when they are all 0); the bytes the division
//! leaves go to the container whose name sorts first. So the containers of a pod sum to the
//! kubelet's pod figure exactly, which is what an HPA `Resource` metric on
//! `ephemeral-storage` (the sum over a pod's containers) compares, and a container that
//! writes nothing gets a small share.

/// Adds to each `(name, own figure)` its share of what `pod_total` has beyond their sum.
/// Nothing changes when there is no container or the pod total is not above their sum.
pub(super) fn share(containers: &mut [(&str, &mut u64)], pod_total: u64) {
    let own: u128 = containers
        .iter()
        .map(|(_, bytes)| u128::from(**bytes))
        .sum();
    let Some(rest) = u128::from(pod_total).checked_sub(own).filter(|r| *r > 0) else {
        return;
    };
    let count = containers.len() as u128;
    if count == 0 {
        return;
    }
    let mut given = 0u128;
    for (_, bytes) in containers.iter_mut() {
        let part = (rest * u128::from(**bytes))
            .checked_div(own)
            .unwrap_or(rest / count);
        given += part;
        **bytes = add(**bytes, part);
    }
    let first = containers
        .iter_mut()
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(_, bytes)| bytes);
    if let Some(bytes) = first {
        **bytes = add(**bytes, rest - given);
    }
}

/// `bytes + part`, at most `u64::MAX` (the parts never exceed a `u64` pod total).
fn add(bytes: u64, part: u128) -> u64 {
    u64::try_from(u128::from(bytes) + part).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(own: &[(&str, u64)], total: u64) -> Vec<u64> {
        let mut values: Vec<u64> = own.iter().map(|(_, b)| *b).collect();
        let mut refs: Vec<(&str, &mut u64)> =
            own.iter().map(|(n, _)| *n).zip(values.iter_mut()).collect();
        share(&mut refs, total);
        values
    }

    #[test]
    fn the_rest_goes_in_proportion_and_the_sum_is_the_pod_total() {
        // 30 KiB and 10 KiB of their own, 8 KiB of volumes and /etc/hosts.
        let got = shared(&[("app", 30_720), ("sidecar", 10_240)], 49_152);
        assert_eq!(got, [36_864, 12_288]);
        assert_eq!(got.iter().sum::<u64>(), 49_152);
    }

    #[test]
    fn leftover_bytes_go_to_the_first_name_and_zeros_share_evenly() {
        let got = shared(&[("b", 1), ("a", 1), ("c", 1)], 3 + 10);
        assert_eq!(got, [1 + 3, 1 + 4, 1 + 3], "10 = 3 + 3 + 3, one left for a");
        let got = shared(&[("b", 0), ("a", 0)], 5);
        assert_eq!(got, [2, 3]);
    }

    #[test]
    fn nothing_to_share_changes_nothing() {
        assert_eq!(shared(&[("a", 10), ("b", 5)], 15), [10, 5]);
        assert_eq!(
            shared(&[("a", 10), ("b", 5)], 12),
            [10, 5],
            "total below own"
        );
        assert_eq!(shared(&[], 12), Vec::<u64>::new());
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let got = shared(&[("a", u64::MAX / 2), ("b", u64::MAX / 2)], u64::MAX);
        assert_eq!(
            got.iter().map(|&v| u128::from(v)).sum::<u128>(),
            u128::from(u64::MAX)
        );
    }
}
