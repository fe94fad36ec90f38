//! What an operator reads when the server cannot start: one line naming the flag, the path once
//! and the cause once, and plain log text (no colour escapes) when stderr is not a terminal,
//! as in a container's log.

#![allow(clippy::expect_used)]

use std::process::Command;

#[test]
fn a_missing_kubeconfig_is_named_once_with_its_cause_once_in_plain_text() {
    let path = "/nonexistent-dir/kubeconfig";
    let out = Command::new(env!("CARGO_BIN_EXE_metrics-server"))
        .args([
            "--kubeconfig",
            path,
            "--secure-port=0",
            "--bind-address=127.0.0.1",
        ])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .expect("run metrics-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "colour escapes in a pipe: {stderr:?}"
    );
    let error = stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert_eq!(
        error,
        format!("Error: reading --kubeconfig {path}: No such file or directory (os error 2)")
    );
}
