//! The differential test: upstream metrics-server v0.9.0 and this server on one simulated
//! cluster, asked the same requests (`differential/cases.rs`); every difference in status,
//! content type, the headers clients use or the body must be on the allow-list
//! (`differential/allow_list.rs`), each entry naming the README row that justifies it.
//!
//! Upstream is found through `METRICS_SERVER_UPSTREAM` or in `$(go env GOPATH)/bin` (install
//! it with `go install sigs.k8s.io/metrics-server/cmd/metrics-server@v0.9.0`); without it the
//! test fails and says so. `DIFFERENTIAL_NODES` and `DIFFERENTIAL_PODS_PER_NODE` change the
//! cluster's size.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "differential/allow_list.rs"]
mod allow_list;
#[path = "differential/cases.rs"]
mod cases;
#[path = "differential/client.rs"]
mod client;
#[path = "differential/cluster.rs"]
mod cluster;
#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/normalize.rs"]
mod normalize;
#[path = "differential/prometheus.rs"]
mod prometheus;
#[path = "differential/protobuf.rs"]
mod protobuf;
#[path = "differential/report.rs"]
mod report;
#[path = "differential/upstream.rs"]
mod upstream;

use std::time::Instant;

use cases::Case;
use client::{Aggregator, Answer};
use report::Finding;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_upstream_v0_9_0() {
    let started = Instant::now();
    let binary = upstream::binary().unwrap_or_else(|err| panic!("{err}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = cluster::Cluster::start(dir.path(), &binary)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let client = Aggregator::new(dir.path()).expect("client");
    let ready = cluster.wait_until_both_serve(&client).await;
    let ready = ready.map_err(|err| format!("{err}\nupstream's log:\n{}", cluster.upstream_log()));
    if let Err(err) = ready {
        cluster.stop().await;
        panic!("{err}");
    }
    let mut findings = Vec::new();
    let cases = cases::all(&cluster.subjects());
    for case in &cases {
        findings.extend(ask_both(&client, &cluster, case).await);
    }
    cluster.stop().await;
    let verdict = report::judge(&findings);
    eprintln!("{}", verdict.text(cases.len(), started.elapsed()));
    assert!(
        verdict.passed(),
        "differences from upstream not on the allow-list (see above)"
    );
}

/// The same request to ours, then at once to upstream; the differences found.
async fn ask_both(client: &Aggregator, cluster: &cluster::Cluster, case: &Case) -> Vec<Finding> {
    let headers: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ask = |base: String| {
        let headers = headers.clone();
        async move { client.send(&base, &case.method, &case.path, &headers).await }
    };
    let answers: (Result<Answer, _>, Result<Answer, _>) = (
        ask(cluster.ours_url()).await,
        ask(cluster.upstream_url()).await,
    );
    let differences = match answers {
        (Ok(ours), Ok(theirs)) => {
            let audit_id = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("audit-id"));
            compare::answers(&ours, &theirs, audit_id.map(|(_, v)| *v), &cluster.unstable)
        }
        (ours, theirs) => vec![compare::Difference {
            field: "answer".into(),
            ours: ours.map_or_else(|e| e.to_string(), |a| a.status.to_string()),
            theirs: theirs.map_or_else(|e| e.to_string(), |a| a.status.to_string()),
        }],
    };
    differences
        .into_iter()
        .map(|difference| Finding {
            case: case.clone(),
            difference,
        })
        .collect()
}

/// Every allow-list entry names a row of the README's "Differences from upstream" table.
#[test]
fn allow_list_entries_name_readme_rows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("## Differences from upstream")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has a \"Differences from upstream\" section");
    let rows: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .collect();
    let named = allow_list::ALLOWED
        .iter()
        .map(|a| a.readme_row)
        .chain(allow_list::NORMALIZED.iter().map(|(_, row)| *row))
        .filter(|row| !row.starts_with("each server"));
    for row in named {
        assert!(
            rows.contains(&row),
            "the allow-list names the README row {row:?}, which the \"Differences from \
             upstream\" table does not have (rows: {rows:?})"
        );
    }
}
