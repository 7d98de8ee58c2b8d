//! `providers:`: the systems outside Zion a spec names once, at the top
//! level, and refers to by name (`providers: { edge: { haproxy: {…} } }`).
//! One variant per kind, externally tagged as the spec writes it.

use serde::{Deserialize, Serialize};

/// One entry of `providers:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// An HAProxy whose Runtime API (its admin socket) Zion drives.
    Haproxy(HaproxyProvider),
}

/// `providers.<name>.haproxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyProvider {
    /// The admin socket (`stats socket … level admin`), as written: a
    /// relative path is resolved by the caller against the spec file's
    /// folder.
    pub socket: String,
}

impl Provider {
    /// The HAProxy settings, when the provider is an HAProxy.
    #[allow(clippy::unnecessary_wraps)] // other kinds of provider answer None
    pub fn haproxy(&self) -> Option<&HaproxyProvider> {
        match self {
            Provider::Haproxy(h) => Some(h),
        }
    }
}
