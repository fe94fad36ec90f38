//! The outcome of `metrics-server diagnose`: one [`Check`] per thing checked (OK, WARN or
//! FAIL, what was checked, what was found, what to do), printed as one line each or as one
//! JSON document with the same fields, and the exit code (1 on any failure; warnings alone
//! exit 0).

use serde::Serialize;

/// Longest text taken from the cluster (condition messages, review reasons) into a cause.
const MAX_QUOTED_CHARS: usize = 600;
/// Objects named one by one in a line that sums up many OK objects.
const MAX_NAMED: usize = 10;

/// How a check came out.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Status {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "FAIL")]
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One checked thing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: Status,
    /// What kind of check, stable for scripts: `apiservice-available`, `kubelet-tls`, …
    pub check: &'static str,
    /// The object checked, `kind/name` or `kind/namespace/name`.
    pub object: String,
    /// What was found.
    pub cause: String,
    /// What to do about it (WARN and FAIL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: &'static str, object: impl Into<String>, cause: impl Into<String>) -> Self {
        Check {
            status: Status::Ok,
            check,
            object: object.into(),
            cause: cause.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: &'static str,
        object: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Warn,
            fix: Some(fix.into()),
            ..Check::ok(check, object, cause)
        }
    }

    pub fn fail(
        check: &'static str,
        object: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Fail,
            ..Check::warn(check, object, cause, fix)
        }
    }

    /// The same check as a warning (a failure diagnose cannot blame on the installation).
    pub fn softened(mut self) -> Self {
        if self.status == Status::Fail {
            self.status = Status::Warn;
        }
        self
    }
}

/// How many checks came out each way.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
}

/// Every check, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    checks: &'a [Check],
    summary: Counts,
    #[serde(rename = "exitCode")]
    exit_code: u8,
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        self.checks.extend(checks);
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for check in &self.checks {
            match check.status {
                Status::Ok => counts.ok += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
            }
        }
        counts
    }

    /// 1 when any check failed, else 0 (warnings alone do not fail).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.counts().fail > 0)
    }

    /// One line per check, `STATUS check object: cause; fix: …`, then the summary.
    pub fn to_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{:<4} {:<width$} {}: {}",
                c.status.label(),
                c.check,
                c.object,
                c.cause
            ));
            if let Some(fix) = &c.fix {
                out.push_str("; fix: ");
                out.push_str(fix);
            }
            out.push('\n');
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// `{"checks": [...], "summary": {"ok": …, "warn": …, "fail": …}, "exitCode": …}`.
    pub fn to_json(&self) -> String {
        let doc = JsonReport {
            checks: &self.checks,
            summary: self.counts(),
            exit_code: self.exit_code(),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    fn summary_line(&self) -> String {
        let c = self.counts();
        let verdict = match (c.fail, c.warn) {
            (0, 0) => "exit code 0".to_owned(),
            (0, _) => "exit code 0 (warnings alone do not fail)".to_owned(),
            _ => "exit code 1".to_owned(),
        };
        format!(
            "{} failed, {} {}, {} OK: {verdict}",
            c.fail,
            c.warn,
            plural(c.warn, "warning", "warnings"),
            c.ok
        )
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Text from the cluster, cut to a readable length on a character boundary.
pub fn quoted(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `a, b, c` or `a, b, … and 12 more`.
pub fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names.iter().take(MAX_NAMED).map(AsRef::as_ref).collect();
    match names.len().saturating_sub(MAX_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut report = Report::default();
        report.push(Check::ok("service", "service/kube-system/ms", "exists"));
        report.push(Check::warn(
            "apiservice-tls",
            "apiservice/v1.metrics.k8s.io",
            "insecureSkipTLSVerify is set",
            "set caBundle",
        ));
        report
    }

    #[test]
    fn warnings_alone_exit_zero_and_say_so() {
        let report = sample();
        assert_eq!(report.exit_code(), 0);
        let text = report.to_text();
        assert!(
            text.contains("0 failed, 1 warning, 1 OK: exit code 0 (warnings alone do not fail)"),
            "{text}"
        );
    }

    #[test]
    fn a_failure_exits_one_and_every_check_is_one_line() {
        let mut report = sample();
        report.push(Check::fail(
            "kubelet-tls",
            "node/n1",
            "unknown authority",
            "pass the CA",
        ));
        assert_eq!(report.exit_code(), 1);
        let text = report.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[2],
            "FAIL kubelet-tls    node/n1: unknown authority; fix: pass the CA"
        );
        assert!(lines[0].starts_with("OK   service        service/kube-system/ms: exists"));
        assert_eq!(lines[3], "1 failed, 1 warning, 1 OK: exit code 1");
    }

    #[test]
    fn json_has_the_same_checks() {
        let mut report = sample();
        report.push(Check::fail("rbac", "serviceaccount/a/b", "denied", "bind"));
        let doc: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(doc["exitCode"], 1);
        assert_eq!(doc["summary"]["warn"], 1);
        assert_eq!(doc["checks"][1]["status"], "WARN");
        assert_eq!(doc["checks"][1]["fix"], "set caBundle");
        assert_eq!(doc["checks"][2]["object"], "serviceaccount/a/b");
        assert!(
            doc["checks"][0].get("fix").is_none(),
            "OK checks carry no fix"
        );
    }

    #[test]
    fn quoted_text_is_bounded() {
        let long = "é".repeat(5_000);
        assert_eq!(quoted(&long).chars().count(), MAX_QUOTED_CHARS + 1);
        assert_eq!(quoted("  short "), "short");
        let names: Vec<String> = (0..12).map(|i| format!("n{i}")).collect();
        assert_eq!(
            name_list(&names),
            "n0, n1, n2, n3, n4, n5, n6, n7, n8, n9 and 2 more"
        );
    }
}
