//! The verdict: every difference found, each with the allow-list entry that covers it or
//! none; unused entries; a readable text.

use std::fmt::Write;
use std::time::Duration;

use super::allow_list::{ALLOWED, Allowed, NORMALIZED};
use super::cases::Case;
use super::compare::Difference;

/// A difference in the answers to one request.
pub struct Finding {
    pub case: Case,
    pub difference: Difference,
}

pub struct Verdict<'a> {
    findings: Vec<(&'a Finding, Option<&'static Allowed>)>,
    unused: Vec<&'static Allowed>,
}

pub fn judge(findings: &[Finding]) -> Verdict<'_> {
    let findings: Vec<_> = findings
        .iter()
        .map(|f| {
            let entry = ALLOWED
                .iter()
                .find(|a| a.covers(&f.case.id, &f.difference.field));
            (f, entry)
        })
        .collect();
    let unused = ALLOWED
        .iter()
        .filter(|a| !a.sometimes)
        .filter(|a| {
            !findings
                .iter()
                .any(|(_, e)| e.is_some_and(|e| std::ptr::eq(e, *a)))
        })
        .collect();
    Verdict { findings, unused }
}

impl Verdict<'_> {
    pub fn passed(&self) -> bool {
        self.unused.is_empty() && self.findings.iter().all(|(_, entry)| entry.is_some())
    }

    pub fn text(&self, requests: usize, took: Duration) -> String {
        let mut out = String::new();
        let unexplained: Vec<_> = self.findings.iter().filter(|(_, e)| e.is_none()).collect();
        let _ = writeln!(
            out,
            "Differential test against upstream v0.9.0: {requests} requests, {} differences, \
             {} not on the allow-list, in {:.0?}.",
            self.findings.len(),
            unexplained.len(),
            took
        );
        let _ = writeln!(out, "Normalized before comparing:");
        for (what, why) in NORMALIZED {
            let _ = writeln!(out, "  - {what} ({why})");
        }
        let mut last_case = "";
        for (finding, entry) in &self.findings {
            let case = &finding.case;
            if case.id != last_case {
                let headers: Vec<String> = case
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "\n[{}] {} {} {}",
                    case.id,
                    case.method,
                    case.path,
                    headers.join("; ")
                );
                last_case = &case.id;
            }
            let d = &finding.difference;
            let verdict = match entry {
                Some(a) => format!("allowed: README \"{}\"", a.readme_row),
                None => "NOT ALLOWED".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {} ({verdict})\n    ours:   {}\n    theirs: {}",
                d.field, d.ours, d.theirs
            );
        }
        for entry in &self.unused {
            let _ = writeln!(
                out,
                "\nUnused allow-list entry (remove it): cases {:?}, fields {:?}, README \"{}\"",
                entry.cases, entry.fields, entry.readme_row
            );
        }
        out
    }
}
