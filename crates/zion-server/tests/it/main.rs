//! The API over real HTTP against an in-process control plane.

mod support;

mod api;
mod audit;
mod controller;
mod gates;
mod governance;
mod http;
mod liveness;
mod metrics;
mod openapi;
mod tokens;
