//! End-to-end tests of the `zion` binary: a real `zion up` child process,
//! real replicas (the binary's own demo-app), real HTTP traffic through the
//! built-in proxy, and the CLI as a user runs it.

mod support;
mod webdriver;

mod console_browser;
mod console_replicas;

mod apply;
mod audit;
mod bad_input;
mod canary;
mod console;
mod console_pages;
mod crashes;
mod datadir;
mod exit_codes;
mod gates;
mod governance;
mod grpc;
mod grpc_health;
mod haproxy;
mod hook_steps;
mod hooks;
mod hostile;
mod judge;
mod metric_sources;
mod nginx;
mod no_traffic;
mod notifications;
mod notifications_https;
mod openapi;
mod postgres;
mod processes;
mod promises;
mod replicas;
mod report;
mod resources;
mod restart;
mod routing;
mod slo;
mod slo_prometheus;
mod strategies;
mod tokens;
