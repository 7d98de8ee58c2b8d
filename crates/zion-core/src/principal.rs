//! Who calls Zion: a principal is an authenticated caller (a token's name
//! and its role), and what each role may do. The name a principal leaves
//! on what it changes is that change's actor (see the glossary in
//! docs/architecture.md).

use crate::spec::Role;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// What an API operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Reading anything.
    Read,
    /// deploy, promote, pause, resume, abort, rollback.
    Deploy,
    /// approve, reject.
    Approve,
    /// tokens and spec.
    Admin,
}

impl Principal {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
        }
    }

    /// Whether this principal's role grants `p` (the README's roles).
    pub fn may(&self, p: Permission) -> bool {
        matches!(
            (self.role, p),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Deployer, Permission::Deploy)
                | (Role::Approver, Permission::Approve)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_readme_says() {
        let p = |role| Principal::new("x", role);
        assert!(p(Role::Viewer).may(Permission::Read));
        assert!(!p(Role::Viewer).may(Permission::Deploy));
        assert!(p(Role::Deployer).may(Permission::Deploy));
        assert!(!p(Role::Deployer).may(Permission::Approve));
        assert!(p(Role::Approver).may(Permission::Approve));
        assert!(!p(Role::Approver).may(Permission::Deploy));
        assert!(!p(Role::Approver).may(Permission::Admin));
        assert!(p(Role::Admin).may(Permission::Admin));
    }
}
