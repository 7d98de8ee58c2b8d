//! The HTTP edge: the router, the listener, and handlers that parse,
//! authorize, call the owners and return views.

pub(crate) mod api;
mod audit_api;
mod exposition;
pub(crate) mod extract;
mod governance_api;
pub(crate) mod listener;
mod metrics_api;
mod notifications_api;
pub(crate) mod openapi;
mod report_api;
mod slo_api;
mod tokens;
