//! `metrics-server certs`: a CA and a serving certificate for the Service's DNS names
//! (`<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<domain>`), written as
//! `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (keys mode 0600), and the base64 `caBundle` to put
//! into the APIServices so `insecureSkipTLSVerify` can go (pain points §4, ms#544/#545).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;

use crate::config::certs::CertsArgs;
use crate::pki::{CertAuthority, PemPair};

/// What was written.
#[derive(Debug)]
pub struct Written {
    pub dir: PathBuf,
    pub dns_names: Vec<String>,
    /// `base64(ca.crt)`, the APIService `spec.caBundle`.
    pub ca_bundle: String,
}

/// The DNS names a Service is reached by inside the cluster.
pub fn service_dns_names(service: &str, namespace: &str, domain: &str) -> Vec<String> {
    let mut names = vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
    ];
    if !domain.is_empty() {
        names.push(format!("{service}.{namespace}.svc.{domain}"));
    }
    names
}

/// A CA and a serving certificate issued by it for the Service's names.
pub fn issue(
    service: &str,
    namespace: &str,
    domain: &str,
    validity: Duration,
    ca_validity: Duration,
) -> anyhow::Result<(CertAuthority, PemPair, Vec<String>)> {
    let ca = CertAuthority::with_validity(&format!("{service}-ca"), ca_validity, validity)?;
    let names = service_dns_names(service, namespace, domain);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let serving = ca.issue_server(&format!("{service}.{namespace}.svc"), &refs, &[])?;
    Ok((ca, serving, names))
}

/// Runs the subcommand.
pub fn run(args: &CertsArgs) -> anyhow::Result<Written> {
    let validity = positive(args.validity.to_std(), "--validity")?;
    let ca_validity = positive(args.ca_validity.to_std(), "--ca-validity")?;
    if ca_validity < validity {
        bail!("--ca-validity must be at least --validity");
    }
    let (ca, serving, dns_names) = issue(
        &args.service_name,
        &args.namespace,
        &args.cluster_domain,
        validity,
        ca_validity,
    )?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let files = [
        ("ca.crt", ca.cert_pem().to_owned(), 0o644),
        ("ca.key", ca.key_pem(), 0o600),
        ("tls.crt", serving.cert_pem.clone(), 0o644),
        ("tls.key", serving.key_pem.clone(), 0o600),
    ];
    for (name, _, _) in &files {
        let path = args.out_dir.join(name);
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to overwrite", path.display());
        }
    }
    for (name, text, mode) in &files {
        write(&args.out_dir.join(name), text, *mode)?;
    }
    Ok(Written {
        dir: args.out_dir.clone(),
        dns_names,
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.cert_pem()),
    })
}

fn positive(d: Option<Duration>, flag: &str) -> anyhow::Result<Duration> {
    d.filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be positive"))
}

fn write(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// What to do next, printed after writing.
pub fn instructions(w: &Written, args: &CertsArgs) -> String {
    let d = w.dir.display();
    format!(
        "Wrote {d}/ca.crt, ca.key, tls.crt, tls.key for: {names}\n\n\
         1. Store the serving pair in a Secret and mount it (e.g. at /etc/metrics-server/tls):\n\
         \x20  kubectl -n {ns} create secret tls {svc}-tls --cert={d}/tls.crt --key={d}/tls.key\n\
         2. Run the server with --tls-cert-file=/etc/metrics-server/tls/tls.crt \
         --tls-private-key-file=/etc/metrics-server/tls/tls.key\n\
         3. In both APIServices (v1beta1.metrics.k8s.io, v1.metrics.k8s.io) remove \
         insecureSkipTLSVerify and set:\n\
         \x20  caBundle: {bundle}\n\
         \x20  e.g. kubectl patch apiservice v1beta1.metrics.k8s.io --type=merge -p \
         '{{\"spec\":{{\"insecureSkipTLSVerify\":false,\"caBundle\":\"{bundle}\"}}}}'\n\n\
         Keep ca.key offline; it is only needed to issue the next serving certificate.",
        names = w.dns_names.join(", "),
        ns = args.namespace,
        svc = args.service_name,
        bundle = w.ca_bundle,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;

    #[test]
    fn writes_a_chain_the_aggregator_can_verify_for_the_service_name() {
        let dir = tempfile::tempdir().unwrap();
        let args = CertsArgs {
            service_name: "metrics-server".into(),
            namespace: "kube-system".into(),
            cluster_domain: "cluster.local".into(),
            out_dir: dir.path().join("out"),
            validity: GoDuration::from_secs(3600),
            ca_validity: GoDuration::from_secs(7200),
            force: false,
        };
        let w = run(&args).unwrap();
        assert_eq!(w.dns_names[2], "metrics-server.kube-system.svc");
        let ca = std::fs::read_to_string(args.out_dir.join("ca.crt")).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&w.ca_bundle)
            .unwrap();
        assert_eq!(decoded, ca.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(args.out_dir.join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second run refuses to overwrite.
        assert!(run(&args).unwrap_err().to_string().contains("--force"));
        assert!(instructions(&w, &args).contains(&w.ca_bundle));
    }
}
