//! `zion-core` is Zion's domain: the spec model and its validation, the
//! deployment state machine, analysis, governance (approvals, deployment
//! windows and freezes, pre-check gating), SLO and DORA math.
//! It is pure: no I/O, no async, no clock — the current time is always
//! passed in. It is not a server, a store or a proxy; those live in the
//! other crates and call into this one.

pub mod analysis;
pub mod api;
pub mod audit;
pub mod compliance;
pub mod delivery;
pub mod deployment;
pub mod duration;
pub mod governance;
pub mod hooks;
pub mod import;
pub mod incident;
pub mod judge;
pub mod metrics;
pub mod notify;
pub mod principal;
pub mod rollout;
pub mod server_weights;
pub mod session;
pub mod slo;
pub mod sources;
pub mod spec;
pub mod spread;
pub mod target;
pub mod text;
pub mod traffic;
pub mod version;
