//! Integration tests of `zion-audit` through its public API: a log built
//! the way a store builds it, signed, exported as a bundle on disk and
//! verified offline.

mod bundle;
mod store;
