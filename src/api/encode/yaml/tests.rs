//! Expected bytes are upstream metrics-server v0.9.0's answers to `Accept: application/yaml`.

use super::*;

fn yaml(json: &str) -> String {
    String::from_utf8(from_json(json.as_bytes()).unwrap()).unwrap()
}

#[test]
fn a_node_metrics_object_as_upstream_writes_it() {
    let json = r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"sim-node-1","creationTimestamp":"2026-12-06T07:57:40Z","labels":{"kubernetes.io/arch":"amd64","topology.kubernetes.io/zone":"zone-a"}},"timestamp":"2026-12-06T07:57:36Z","window":"10.012s","usage":{"cpu":"2045m","memory":"2378316Ki"}}"#;
    let want = "apiVersion: metrics.k8s.io/v1beta1\nkind: NodeMetrics\nmetadata:\n  creationTimestamp: \"2026-12-06T07:57:40Z\"\n  labels:\n    kubernetes.io/arch: amd64\n    topology.kubernetes.io/zone: zone-a\n  name: sim-node-1\ntimestamp: \"2026-12-06T07:57:36Z\"\nusage:\n  cpu: 2045m\n  memory: 2378316Ki\nwindow: 10.012s\n";
    assert_eq!(yaml(json), want);
}

#[test]
fn sequences_sit_under_their_key_and_empty_collections_are_inline() {
    let json = r#"{"kind":"APIGroupList","groups":[{"name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":":18444"}]}],"metadata":{},"items":[]}"#;
    let want = "groups:\n- name: metrics.k8s.io\n  serverAddressByClientCIDRs:\n  - clientCIDR: 0.0.0.0/0\n    serverAddress: :18444\n  versions:\n  - groupVersion: metrics.k8s.io/v1beta1\n    version: v1beta1\nitems: []\nkind: APIGroupList\nmetadata: {}\n";
    assert_eq!(yaml(json), want);
}

#[test]
fn status_messages_are_quoted_and_folded_like_go_yaml() {
    let long = r#"{"code":404,"message":"pods \"a-very-long-pod-name-that-goes-on-and-on-and-on-beyond-eighty-columns-for-sure-yes\" not found"}"#;
    assert_eq!(
        yaml(long),
        "code: 404\nmessage: pods \"a-very-long-pod-name-that-goes-on-and-on-and-on-beyond-eighty-columns-for-sure-yes\"\n  not found\n"
    );
    let colon = r#"{"message":"unable to parse requirement: found '=', expected: identifier"}"#;
    assert_eq!(
        yaml(colon),
        "message: 'unable to parse requirement: found ''='', expected: identifier'\n"
    );
    let quote = r#"{"message":"\"x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""}"#;
    assert_eq!(
        yaml(quote),
        "message: '\"x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"'\n"
    );
}

#[test]
fn strings_yaml_would_read_as_other_types_are_double_quoted() {
    for (text, quoted) in [
        ("1", true),
        ("0x1F", true),
        ("1.5", true),
        ("yes", true),
        ("null", true),
        ("", true),
        ("2026-12-06", true),
        ("1:20", true),
        ("2045m", false),
        ("12240Ki", false),
        ("10.012s", false),
        ("v1", false),
    ] {
        let got = yaml(&serde_json::json!({ "k": text }).to_string());
        assert_eq!(got.starts_with("k: \""), quoted, "{text:?}: {got}");
    }
}
