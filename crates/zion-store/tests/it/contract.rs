//! The contract suite of the store traits against [`SqliteStore`], on files
//! (as Zion runs it: a side connection for long reads and imports) and in
//! memory (one connection for everything), and against [`PostgresStore`]
//! on a throwaway cluster (a new database per test).
//!
//! [`PostgresStore`]: zion_store::PostgresStore

use proptest::prelude::*;
use zion_store::SqliteStore;
use zion_store::contract::deployments::{RoundTripSample, round_trips_exactly};

mod on_file {
    zion_store::contract_tests!(crate::support::on_file());
}

mod on_postgres {
    zion_store::contract_tests!(crate::support::on_postgres());
}

mod in_memory {
    use zion_store::SqliteStore;

    zion_store::contract_tests!(|| SqliteStore::open_in_memory().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any finite figures, any instant: what goes in comes out bit for bit.
    #[test]
    fn rounds_and_times_round_trip_exactly(
        p95 in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
        ratio in proptest::num::f64::POSITIVE,
        requests in any::<u64>(),
        secs in -62_000_000_000i64..250_000_000_000i64,
        nanos in 0i32..1_000_000_000,
    ) {
        let at = jiff::Timestamp::new(secs, nanos).unwrap();
        round_trips_exactly(
            || SqliteStore::open_in_memory().unwrap(),
            RoundTripSample { p95, ratio, requests, at },
        );
    }
}
