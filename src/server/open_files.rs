//! The open-files limit: raised from the soft to the hard limit at start-up, as Go does for
//! every program (a container runtime's soft limit of 1024 would otherwise stop `accept`
//! after about a thousand connections and starve the health probes), and the connection cap
//! kept within it so kubelet connections, the API client and certificate reloads always have
//! descriptors left.

use crate::config::ConnectionLimits;

/// The open-files limits after start-up; `None` where the platform has none.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Descriptors {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and logs both values.
pub fn raise_soft_limit() -> Option<Descriptors> {
    let (soft, hard) = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "Could not read the open-files limit.");
            return None;
        }
    };
    if soft >= hard {
        tracing::info!(soft, hard, "Open-files limit already at its hard limit.");
        return Some(Descriptors { soft, hard });
    }
    match rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!(
                soft_before = soft,
                soft = hard,
                hard,
                "Raised the soft open-files limit to the hard limit."
            );
            Some(Descriptors { soft: hard, hard })
        }
        Err(err) => {
            tracing::warn!(soft, hard, error = %err, "Could not raise the soft open-files limit.");
            Some(Descriptors { soft, hard })
        }
    }
}

/// `limits` with the connection cap at most half the soft limit: the other half is for
/// kubelet connections (one per node), the API client and files.
pub fn fit_connection_cap(
    mut limits: ConnectionLimits,
    descriptors: Option<Descriptors>,
) -> ConnectionLimits {
    let Some(d) = descriptors else {
        return limits;
    };
    let room = usize::try_from(d.soft / 2).unwrap_or(usize::MAX).max(1);
    if limits.max_connections > room {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files_limit = d.soft,
            cap = room,
            "--max-connections is above half the open-files limit; capping it."
        );
        limits.max_connections = room;
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        // One below the hard limit: lowering it further could starve parallel tests.
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard - 1, hard).unwrap();
        let got = raise_soft_limit().expect("Linux has an open-files limit");
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!((got.soft, got.hard), (soft, hard));
        assert_eq!(soft, hard);
    }

    #[test]
    fn the_connection_cap_leaves_half_the_descriptors() {
        let limits = ConnectionLimits::default();
        let small = Descriptors {
            soft: 1024,
            hard: 1024,
        };
        assert_eq!(fit_connection_cap(limits, Some(small)).max_connections, 512);
        let large = Descriptors {
            soft: 1 << 20,
            hard: 1 << 20,
        };
        assert_eq!(
            fit_connection_cap(limits, Some(large)).max_connections,
            limits.max_connections
        );
        assert_eq!(fit_connection_cap(limits, None), limits);
    }
}
