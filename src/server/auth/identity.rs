//! Who a request comes from, as the apiserver's `user.Info`: name, uid, groups, extra.

use std::collections::BTreeMap;

/// `system:anonymous`, the user of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of anonymous requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Added to every authenticated user, as the apiserver's `AuthenticatedGroupAdder` does.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Members are allowed everything without a SubjectAccessReview (spec §1.5).
pub const MASTERS_GROUP: &str = "system:masters";

/// An authenticated (or anonymous) caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Identity {
    /// A user with groups and nothing else.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        Identity {
            name: name.into(),
            groups,
            ..Identity::default()
        }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Self {
        Identity::new(ANONYMOUS_USER, vec![UNAUTHENTICATED_GROUP.to_owned()])
    }

    /// Adds `system:authenticated` unless present (or the user is anonymous).
    pub fn with_authenticated_group(mut self) -> Self {
        let anonymous =
            self.name == ANONYMOUS_USER || self.groups.iter().any(|g| g == UNAUTHENTICATED_GROUP);
        if !anonymous && !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        self
    }

    /// Whether the user is in `system:masters`.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS_GROUP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_group_is_added_once_and_never_to_anonymous() {
        let id = Identity::new("alice", vec![]).with_authenticated_group();
        assert_eq!(id.groups, [AUTHENTICATED_GROUP]);
        let again = id.clone().with_authenticated_group();
        assert_eq!(again.groups.len(), 1);
        let anon = Identity::anonymous().with_authenticated_group();
        assert_eq!(anon.groups, [UNAUTHENTICATED_GROUP]);
        assert!(Identity::new("root", vec![MASTERS_GROUP.into()]).is_privileged());
        assert!(!anon.is_privileged());
    }
}
