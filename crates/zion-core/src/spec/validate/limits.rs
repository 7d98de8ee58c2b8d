//! `targets.<env>.limits`: the built-in listener's timeouts and limits,
//! each with a default.

use super::{Report, at};
use crate::spec::TargetLimits;
use crate::spec::ranges;
use crate::spec::raw::{RawLimits, keys};

pub(super) fn limits(r: &mut Report, p: &str, raw: Option<&RawLimits>) -> TargetLimits {
    let defaults = TargetLimits::default();
    let Some(raw) = raw else { return defaults };
    r.unknown(p, &raw.unknown, keys::LIMITS);
    TargetLimits {
        connect_timeout: r.duration(
            &at(p, "connect_timeout"),
            raw.connect_timeout.as_ref(),
            defaults.connect_timeout,
            ranges::CONNECT_TIMEOUT,
        ),
        header_timeout: r.duration(
            &at(p, "header_timeout"),
            raw.header_timeout.as_ref(),
            defaults.header_timeout,
            ranges::HEADER_TIMEOUT,
        ),
        max_header_bytes: count(
            r,
            &at(p, "max_header_bytes"),
            raw.max_header_bytes,
            (8 * 1024, 1024 * 1024),
            defaults.max_header_bytes,
        ),
        max_connections: count(
            r,
            &at(p, "max_connections"),
            raw.max_connections,
            (1, 1_000_000),
            defaults.max_connections,
        ),
    }
}

fn count(r: &mut Report, path: &str, raw: Option<i64>, (lo, hi): (u64, u64), default: u64) -> u64 {
    match raw {
        None => default,
        Some(n) => match u64::try_from(n) {
            Ok(n) if (lo..=hi).contains(&n) => n,
            _ => {
                r.add(path, format!("{n} is out of range: use {lo} to {hi}"));
                default
            }
        },
    }
}
