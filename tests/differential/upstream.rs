//! Upstream metrics-server v0.9.0 as a child process on the demo cluster, with the flags an
//! operator would give it there (the same as ours, plus the kubeconfigs its delegated
//! authentication and authorization need outside a cluster).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where to find the binary: this variable, else `$(go env GOPATH)/bin/metrics-server`.
pub const BINARY_ENV: &str = "METRICS_SERVER_UPSTREAM";
/// The version the comparison is made against, and how to install it.
pub const VERSION: &str = "v0.9.0";
pub const INSTALL: &str = "go install sigs.k8s.io/metrics-server/cmd/metrics-server@v0.9.0";

/// Why upstream could not be started.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "no upstream metrics-server {VERSION} at {0}: install it with `{INSTALL}` \
         (or name the binary in {BINARY_ENV})"
    )]
    Missing(PathBuf),
    #[error("`go env GOPATH` failed ({0}); install Go, or name the binary in {BINARY_ENV}")]
    NoGo(String),
    #[error("{path} --version says {said:?}, not {VERSION}: reinstall it with `{INSTALL}`")]
    WrongVersion { path: PathBuf, said: String },
    #[error("starting {path}: {err}")]
    Spawn { path: PathBuf, err: std::io::Error },
}

/// The upstream binary: `$METRICS_SERVER_UPSTREAM`, else the one `go install` puts in
/// `$(go env GOPATH)/bin`; checked to be v0.9.0.
pub fn binary() -> Result<PathBuf, UpstreamError> {
    let path = match std::env::var_os(BINARY_ENV) {
        Some(path) => PathBuf::from(path),
        None => go_bin()?.join("metrics-server"),
    };
    if !path.is_file() {
        return Err(UpstreamError::Missing(path));
    }
    let said = Command::new(&path)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .map_err(|err| UpstreamError::Spawn {
            path: path.clone(),
            err,
        })?;
    // `go install` stamps no version (`v0.0.0-master+$Format:%H$`); a release build says v0.9.0.
    if said.starts_with("v0.") && !said.starts_with("v0.0.0-") && said != VERSION {
        return Err(UpstreamError::WrongVersion { path, said });
    }
    Ok(path)
}

fn go_bin() -> Result<PathBuf, UpstreamError> {
    let out = Command::new("go")
        .args(["env", "GOPATH"])
        .output()
        .map_err(|err| UpstreamError::NoGo(err.to_string()))?;
    if !out.status.success() {
        return Err(UpstreamError::NoGo(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let gopath = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // GOPATH may list several directories; `go install` uses the first.
    let first = gopath.split(':').next().unwrap_or_default();
    Ok(Path::new(first).join("bin"))
}

/// The running upstream server; killed when dropped.
pub struct Upstream {
    child: Child,
    log: PathBuf,
}

impl Upstream {
    /// Starts `binary` on `127.0.0.1:port` against the demo files in `dir`, logging to
    /// `dir/upstream.log`.
    pub fn start(binary: &Path, dir: &Path, port: u16) -> Result<Self, UpstreamError> {
        let log = dir.join("upstream.log");
        let spawn_err = |err| UpstreamError::Spawn {
            path: binary.to_path_buf(),
            err,
        };
        let log_file = std::fs::File::create(&log).map_err(spawn_err)?;
        let kubeconfig = dir.join("kubeconfig");
        let file = |name: &str| dir.join(name).display().to_string();
        let child = Command::new(binary)
            .args([
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--authentication-kubeconfig={}", kubeconfig.display()),
                format!("--authorization-kubeconfig={}", kubeconfig.display()),
                format!("--kubelet-certificate-authority={}", file("demo-ca.crt")),
                "--kubelet-use-node-status-port".to_owned(),
                "--kubelet-preferred-address-types=InternalIP,Hostname".to_owned(),
                "--kubelet-request-timeout=5s".to_owned(),
                "--metric-resolution=10s".to_owned(),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--secure-port={port}"),
                format!("--tls-cert-file={}", file("demo-metrics-server.crt")),
                format!("--tls-private-key-file={}", file("demo-metrics-server.key")),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(spawn_err)?;
        Ok(Upstream { child, log })
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
