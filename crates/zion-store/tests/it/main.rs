//! Tests of the SQLite store: the contract suite of the store traits, then
//! what only this backend promises (a file that survives reopening, two
//! connections racing on it, migrations of old schemas), on real files in
//! temporary folders.

mod audit;
mod concurrency;
mod contract;
mod durability;
mod history;
mod postgres_faults;
mod rounds;
mod support;
mod tokens;
