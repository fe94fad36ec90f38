//! The server under test as its own child process, so its resident memory, its descriptors
//! and its log lines are its alone: started with the flags an operator would use against
//! the simulated cluster, its stderr captured line by line with the time each line arrived,
//! killed when dropped.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::tls::{Alpn, Conn, get};

/// How long the server may take to become ready (two scrapes at the 10 s resolution).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
pub struct Launch<'a> {
    pub binary: &'a str,
    /// Flags after the ones every run gets.
    pub flags: Vec<String>,
    /// Starts the server under this soft open-files limit (the hard limit is inherited).
    pub soft_open_files: Option<u32>,
}

/// The running server process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl ServerProcess {
    /// Starts the server against `cluster` and waits until `/readyz` answers 200.
    pub async fn start(cluster: &Cluster, launch: Launch<'_>) -> ServerProcess {
        let port = free_port();
        let mut cmd = match launch.soft_open_files {
            Some(n) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!("ulimit -Sn {n} && exec \"$0\" \"$@\""))
                    .arg(launch.binary);
                c
            }
            None => Command::new(launch.binary),
        };
        cmd.args(base_flags(cluster, port))
            .args(&launch.flags)
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            // Plain text: the log lines are matched as text.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start the server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("server stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push((Instant::now(), line));
            }
        });
        let server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        server.wait_ready(cluster).await;
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/readyz` (a new anonymous connection each time) until it answers 200.
    async fn wait_ready(&self, cluster: &Cluster) {
        let tls = cluster.anonymous();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(mut conn) = Conn::open(&tls, self.addr, Alpn::Http1).await
                && let Ok(answer) = conn.send(get("/readyz", &[])).await
                && answer.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within {READY_TIMEOUT:?}; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Log lines that arrived in `[from, to)`.
    pub fn lines_between(&self, from: Instant, to: Instant) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Every log line so far.
    pub fn log_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).unwrap_or(0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags of every run: the simulated cluster's kubeconfig and certificates, loopback.
fn base_flags(cluster: &Cluster, port: u16) -> Vec<String> {
    let f = |name: &str| cluster.file(name).display().to_string();
    vec![
        format!("--kubeconfig={}", f("kubeconfig")),
        format!("--kubelet-certificate-authority={}", f("demo-ca.crt")),
        "--kubelet-use-node-status-port".into(),
        "--kubelet-preferred-address-types=InternalIP,Hostname".into(),
        "--kubelet-request-timeout=5s".into(),
        "--metric-resolution=10s".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", f("demo-metrics-server.crt")),
        format!("--tls-private-key-file={}", f("demo-metrics-server.key")),
    ]
}

/// Whether `binary` has `flag` (an older build measured for comparison may not).
pub fn has_flag(binary: &str, flag: &str) -> bool {
    Command::new(binary)
        .arg("--help")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(flag))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Sockets of `pid` connected to `peer` (an IPv4 address: from `/proc/<pid>/net/tcp`, matched
/// by inode with the process's descriptors). The whole address counts: a simulated kubelet on
/// another loopback address may have the same port number.
pub fn sockets_to(pid: u32, peer: SocketAddr) -> usize {
    let inodes: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|link| {
            let s = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
            s.parse().ok()
        })
        .collect();
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return 0;
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (ip, port) = cols.get(2)?.split_once(':')?;
            // The kernel prints the address as a host-order word of network-order bytes.
            let ip = std::net::Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_le_bytes());
            let remote = SocketAddr::from((ip, u16::from_str_radix(port, 16).ok()?));
            let inode: u64 = cols.get(9)?.parse().ok()?;
            Some((remote, inode))
        })
        .filter(|(remote, inode)| *remote == peer && inodes.contains(inode))
        .count()
}
