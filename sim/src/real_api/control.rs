//! `--control-file`: faults, clock skews and serving certificates of the simulated kubelets,
//! changed while they run. The file says the whole state, one line per node that is not
//! healthy:
//!
//! ```text
//! # NODE [fault=none|hang|status500|garbage|down] [clock-skew=DURATION] [serving-cert=ip|no-ip-san]
//! sim-node-2 fault=down
//! sim-node-1 clock-skew=1h
//! sim-node-3 serving-cert=no-ip-san
//! ```
//!
//! A node the file does not name (or a missing file) has no fault and a true clock; names of
//! nodes this process does not run are ignored. `down`
//! stops the node's kubelet (its port refuses connections; the node object stays Ready, the
//! lease is renewed); `clock-skew` is a Go duration, negative for a clock behind;
//! `serving-cert=no-ip-san` reissues the kubelet's serving certificate with the node's name
//! only (what a client dialling the node's IP cannot verify by IP), `ip` (the default) with
//! its name and IP. The file is
//! read every second (at most [`MAX_BYTES`]); each change is logged, and a file that does not
//! parse is logged once and leaves the state as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::kubelet::{Fault, KubeletFleet, ServingNames};
use metrics_server::config::GoDuration;

/// How often the file is read.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The most of the file read.
pub const MAX_BYTES: u64 = 64 * 1024;

/// What one node's kubelet does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub fault: Fault,
    /// How far its clock is ahead, in milliseconds.
    pub clock_skew_ms: i64,
    /// The names its serving certificate carries.
    pub serving_names: ServingNames,
}

impl Default for NodeState {
    fn default() -> Self {
        NodeState {
            fault: Fault::None,
            clock_skew_ms: 0,
            serving_names: ServingNames::NameAndIp,
        }
    }
}

/// A line of the file that does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ControlError {
    line: usize,
    problem: String,
}

/// The nodes the file names, with their state.
pub fn parse(text: &str) -> Result<HashMap<String, NodeState>, ControlError> {
    let mut nodes = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(node) = words.next() else {
            continue;
        };
        let error = |problem: String| ControlError {
            line: index + 1,
            problem,
        };
        let mut state = NodeState::default();
        for word in words {
            match word.split_once('=') {
                Some(("fault", name)) => state.fault = fault(name).map_err(error)?,
                Some(("clock-skew", value)) => {
                    let skew = GoDuration::parse(value).map_err(|e| error(e.to_string()))?;
                    state.clock_skew_ms = skew.as_nanos() / 1_000_000;
                }
                Some(("serving-cert", names)) => {
                    state.serving_names = serving_names(names).map_err(error)?
                }
                _ => {
                    return Err(error(format!(
                        "{word:?} is not fault=…, clock-skew=… or serving-cert=…"
                    )));
                }
            }
        }
        nodes.insert(node.to_owned(), state);
    }
    Ok(nodes)
}

fn fault(name: &str) -> Result<Fault, String> {
    Ok(match name {
        "none" => Fault::None,
        "hang" => Fault::Hang,
        "status500" => Fault::Status500,
        "garbage" => Fault::Garbage,
        "down" => Fault::Down,
        _ => {
            return Err(format!(
                "fault {name:?} is not one of none, hang, status500, garbage, down"
            ));
        }
    })
}

fn serving_names(name: &str) -> Result<ServingNames, String> {
    match name {
        "ip" => Ok(ServingNames::NameAndIp),
        "no-ip-san" => Ok(ServingNames::NameOnly),
        _ => Err(format!("serving-cert {name:?} is not one of ip, no-ip-san")),
    }
}

/// Applies `path` to `fleet` every second, forever (until the future is dropped).
pub async fn follow(path: PathBuf, fleet: &KubeletFleet) {
    let mut applied: HashMap<String, NodeState> = fleet
        .endpoints()
        .iter()
        .map(|e| (e.node.clone(), NodeState::default()))
        .collect();
    let mut last_problem = None;
    let mut ticker = tokio::time::interval(POLL_EVERY);
    loop {
        ticker.tick().await;
        let wanted = match read(&path).await {
            Ok(wanted) => wanted,
            Err(problem) => {
                if last_problem.as_ref() != Some(&problem) {
                    tracing::warn!(file = %path.display(), %problem, "control file ignored");
                    last_problem = Some(problem);
                }
                continue;
            }
        };
        last_problem = None;
        for (node, now) in applied.iter_mut() {
            let next = wanted.get(node).copied().unwrap_or_default();
            if next != *now {
                fleet.set_fault(node, next.fault);
                fleet.set_clock_skew(node, next.clock_skew_ms);
                if next.serving_names != now.serving_names
                    && let Err(e) = fleet.serving_certs().reissue(node, next.serving_names)
                {
                    tracing::warn!(%node, error = %e, "control: reissuing the serving certificate failed");
                    continue;
                }
                tracing::info!(
                    %node, fault = ?next.fault, clock_skew_ms = next.clock_skew_ms,
                    serving_cert = ?next.serving_names, "control: kubelet changed"
                );
                *now = next;
            }
        }
    }
}

/// The file's nodes; a missing file names none.
async fn read(path: &Path) -> Result<HashMap<String, NodeState>, String> {
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e.to_string()),
    };
    let mut text = String::new();
    file.take(MAX_BYTES)
        .read_to_string(&mut text)
        .await
        .map_err(|e| e.to_string())?;
    parse(&text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lines_name_a_node_and_its_fault_and_clock_skew() {
        let text = "# comment\n\nsim-node-2 fault=down\nsim-node-1 clock-skew=1h fault=none # an hour ahead\nsim-node-3 clock-skew=-90s\nsim-node-4 serving-cert=no-ip-san\n";
        let nodes = parse(text).unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes["sim-node-4"].serving_names, ServingNames::NameOnly);
        assert_eq!(nodes["sim-node-3"].serving_names, ServingNames::NameAndIp);
        assert_eq!(nodes["sim-node-2"].fault, Fault::Down);
        assert_eq!(nodes["sim-node-1"].clock_skew_ms, 3_600_000);
        assert_eq!(nodes["sim-node-1"].fault, Fault::None);
        assert_eq!(nodes["sim-node-3"].clock_skew_ms, -90_000);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = parse("sim-node-1 fault=down\nsim-node-2 fault=off\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("\"off\""), "{err}");
        assert!(parse("sim-node-1 clock-skew=soon").is_err());
        assert!(parse("sim-node-1 down").is_err());
        assert!(parse("sim-node-1 serving-cert=none").is_err());
    }
}
