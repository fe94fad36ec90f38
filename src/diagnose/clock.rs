//! A node's clock against this machine's (pain point 14): the newest sample time in the
//! kubelet's answer (its clock) minus when the answer arrived (ours), as the server measures
//! it (`metrics_rs_node_clock_offset_seconds`, [`crate::telemetry::clock_offset`]). A kubelet
//! serves samples taken up to its housekeeping interval earlier, so down to about -15 s is
//! normal; past [`WARN_ABOVE_SECS`] either way is a skewed clock.

use super::report::Check;
use crate::telemetry::clock_offset::WARN_ABOVE_SECS;

/// The report line of a node whose kubelet clock is `offset_secs` ahead of ours (negative:
/// behind).
pub fn clock_check(node: &str, offset_secs: f64) -> Check {
    let object = format!("node/{node}");
    let size = offset_secs.abs();
    if size <= WARN_ABOVE_SECS {
        return Check::ok(
            "node-clock",
            object,
            format!("the kubelet's newest sample is {offset_secs:+.1} s from this machine's clock"),
        );
    }
    let direction = match offset_secs > 0.0 {
        true => "ahead of",
        false => "behind",
    };
    Check::warn(
        "node-clock",
        object,
        format!(
            "the kubelet's newest sample is {size:.1} s {direction} this machine's clock (more \
             than {WARN_ABOVE_SECS:.0} s): the node's clock, or this one, is off; metrics carry \
             the kubelet's times, so they look {}",
            match offset_secs > 0.0 {
                true => "as if from the future",
                false => "stale",
            }
        ),
        "sync the clocks with NTP (chronyc tracking, timedatectl status on the node); if every \
         node is off by the same amount, it is this machine's clock",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;

    #[test]
    fn a_housekeeping_lag_is_fine_and_a_skew_warns_with_its_direction() {
        assert_eq!(clock_check("n", -14.0).status, Status::Ok);
        assert_eq!(clock_check("n", 30.0).status, Status::Ok);
        let ahead = clock_check("n", 125.34);
        assert_eq!(ahead.status, Status::Warn);
        assert!(ahead.cause.contains("125.3 s ahead of"), "{}", ahead.cause);
        let behind = clock_check("n", -3_600.0);
        assert!(behind.cause.contains("3600.0 s behind"), "{}", behind.cause);
        assert!(behind.cause.contains("stale"), "{}", behind.cause);
    }
}
