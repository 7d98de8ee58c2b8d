//! Reading real-world reports: samples as the named tools write them, and
//! broken files that must be refused with a useful message.

mod cobertura;
mod junit;
mod lcov;
mod sarif;
