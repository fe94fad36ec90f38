//! Label and field selectors from `?labelSelector=` / `?fieldSelector=` (upstream spec §2.3;
//! kubectl-wire §8 pitfall 7: the server does all filtering).
//!
//! * Labels: the full apimachinery `labels.Parse` grammar (`=`, `==`, `!=`, `in (…)`,
//!   `notin (…)`, `key`, `!key`, `>`/`<` with integers), keys and values validated as
//!   Kubernetes label keys and values, and upstream's error texts.
//! * Fields: apimachinery `fields.ParseSelector` (`=`, `==`, `!=`, backslash escapes) over an
//!   allowed set of fields; an unknown field is the apiserver's 400 `… is not a known field
//!   selector: only …`.
//!
//! Bounds (beyond upstream): at most [`MAX_SELECTOR_BYTES`] of text, [`MAX_REQUIREMENTS`]
//! requirements and [`MAX_VALUES`] values per set.

mod field;
mod label;
mod lexer;
mod validate;

pub use field::{FieldOp, FieldSelector, FieldTerm};
pub use label::{LabelSelector, Operator, Requirement};

use crate::api::metav1_status::Status;

/// Longest selector text accepted.
pub const MAX_SELECTOR_BYTES: usize = 16 * 1024;
/// Most requirements (label) or terms (field) in one selector.
pub const MAX_REQUIREMENTS: usize = 100;
/// Most values in one `in`/`notin` set.
pub const MAX_VALUES: usize = 100;

/// Why a selector was rejected; every variant becomes a 400 (see [`SelectorError::to_status`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Upstream's parse or validation message, verbatim.
    #[error("{0}")]
    Invalid(String),
    #[error("{kind} selector is {len} bytes long; at most {max} bytes are accepted", max = MAX_SELECTOR_BYTES)]
    TooLong { kind: &'static str, len: usize },
    #[error("{kind} selector has more than {max} requirements", max = MAX_REQUIREMENTS)]
    TooManyRequirements { kind: &'static str },
    #[error("label selector requirement on {key:?} has more than {max} values", max = MAX_VALUES)]
    TooManyValues { key: String },
    /// A field selector over a field that is not in the allowed list.
    #[error("{}", Status::unknown_field_selector(.field, &.allowed.iter().map(String::as_str).collect::<Vec<_>>()).message)]
    UnknownField { field: String, allowed: Vec<String> },
}

impl SelectorError {
    /// The 400 `BadRequest` Status the apiserver would send.
    pub fn to_status(&self) -> Status {
        Status::bad_request(self.to_string())
    }
}
