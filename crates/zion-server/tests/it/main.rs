//! The API over real HTTP against an in-process control plane.

mod api;
mod governance;
mod tokens;
