//! The bench's child processes (the server under test, and this binary re-executed for the
//! simulated cluster and the raw fetch), each started under `/bin/sh`, which first raises the
//! soft open-files limit to the hard one; stopped when their handle is dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Raises the soft open-files limit to the hard one, then runs the command (`$0 "$@"`):
/// every simulated kubelet and every kubelet connection is a file descriptor.
/// `$METRICS_BENCH_WRAP` (unquoted, so split into words) is the optional `--server-wrapper` command.
const RAISE_NOFILE: &str =
    "ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec $METRICS_BENCH_WRAP \"$0\" \"$@\"";

/// How long a stopped process may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// A child process, leader of its own process group, stopped with that group (SIGTERM, then
/// SIGKILL) when dropped: a `--server-wrapper` such as `perf record` forks the server, and
/// signalling the wrapper alone left the server running.
pub(super) struct Proc {
    pub(super) name: &'static str,
    pub(super) child: Child,
}

impl Proc {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first, so a `--server-wrapper` profiler can write its data; then SIGKILL.
        let terminated = signal_group("-TERM", self.pid());
        let deadline = Instant::now() + STOP_GRACE;
        while terminated && Instant::now() < deadline && self.exited().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group("-KILL", self.pid());
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::debug!(process = self.name, "stopped");
    }
}

/// Sends `signal` to every process of the group `leader` leads; true if it was delivered.
fn signal_group(signal: &str, leader: u32) -> bool {
    Command::new("kill")
        .args([signal, "--", &format!("-{leader}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// This executable: the bench re-executes itself for its helper processes.
pub(super) fn this_executable() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating this executable")
}

/// Starts `exe` with `args`; `configure` may change the command first.
pub(super) fn spawn(
    name: &'static str,
    exe: &Path,
    args: &[String],
    configure: impl FnOnce(&mut Command),
) -> anyhow::Result<Proc> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(RAISE_NOFILE).arg(exe).args(args);
    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("METRICS_BENCH_WRAP", "");
    configure(&mut cmd);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting the {name} process"))?;
    Ok(Proc { name, child })
}
