//! Integration tests of the SQLite store, on real files in temporary folders.

mod audit;
mod concurrency;
mod deployments;
mod durability;
mod history;
mod incidents;
mod records;
mod rounds;
mod support;
