//! How Zion's values are written as column values and read back, exactly.

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zion_core::deployment::Phase;
use zion_core::spec::Role;

use crate::StoreError;

/// RFC 3339 UTC with exactly nine fractional digits: exact to the
/// nanosecond, and of fixed width so that text order is time order (the
/// `since` filter compares the text).
pub(crate) fn time_text(ts: Timestamp) -> String {
    format!("{ts:.9}")
}

/// Reads back what [`time_text`] wrote.
pub(crate) fn parse_time(text: &str, what: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} `{text}` is not an RFC 3339 time: {e}")))
}

/// Reads back an optional time.
pub(crate) fn parse_opt_time(
    text: Option<&str>,
    what: &str,
) -> Result<Option<Timestamp>, StoreError> {
    text.map(|t| parse_time(t, what)).transpose()
}

/// Parses a role's spec name.
pub(crate) fn parse_role(name: &str) -> Result<Role, StoreError> {
    Role::from_name(name).ok_or_else(|| StoreError::Corrupt(format!("`{name}` is not a role")))
}

/// Parses a phase name.
pub(crate) fn parse_phase(name: &str) -> Result<Phase, StoreError> {
    Phase::from_name(name).ok_or_else(|| StoreError::Corrupt(format!("`{name}` is not a phase")))
}

/// The terminal phases as an SQL list of literals, e.g. `'succeeded', 'failed'`.
/// The names come from `zion-core`, never from a user, so inlining is safe.
pub(crate) fn terminal_phases_sql() -> String {
    Phase::ALL
        .into_iter()
        .filter(|p| p.is_terminal())
        .map(|p| format!("'{}'", p.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Serialises `value` as JSON and checks that it reads back equal, so that a
/// value JSON cannot hold exactly (a NaN, a sub-millisecond plan duration) is
/// refused when written rather than found changed or unreadable later.
pub(crate) fn to_json<T>(value: &T, what: &str) -> Result<String, StoreError>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("the {what} cannot be written as JSON: {e}")))?;
    match serde_json::from_str::<T>(&text) {
        Ok(back) if back == *value => Ok(text),
        _ => Err(StoreError::Invalid(format!(
            "the {what} would not read back exactly (a number that is not finite, or a \
             duration finer than a millisecond?): {text}"
        ))),
    }
}

/// Reads JSON written by [`to_json`].
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("the stored {what} is not valid: {e}")))
}

/// Narrows a stored integer to its Rust type.
pub(crate) fn narrow<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is out of range")))
}

/// Widens an unsigned value to the database's signed integer.
pub(crate) fn widen<T: TryInto<i64> + Copy + std::fmt::Display>(
    value: T,
    what: &str,
) -> Result<i64, StoreError> {
    value
        .try_into()
        .map_err(|_| StoreError::Invalid(format!("{what} {value} is too large to store")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_text_is_exact_and_sorts_as_time() {
        let times = [
            Timestamp::new(1_700_000_000, 0).unwrap(),
            Timestamp::new(1_700_000_000, 1).unwrap(),
            Timestamp::new(1_700_000_000, 500_000_000).unwrap(),
            Timestamp::new(1_700_000_001, 0).unwrap(),
            Timestamp::new(1_700_000_001, 999_999_999).unwrap(),
        ];
        for pair in times.windows(2) {
            assert!(time_text(pair[0]) < time_text(pair[1]), "{pair:?}");
        }
        for t in times {
            assert_eq!(parse_time(&time_text(t), "t").unwrap(), t);
            assert!(time_text(t).ends_with('Z'));
        }
        assert_eq!(time_text(times[0]), "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn names_round_trip() {
        for r in [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin] {
            assert_eq!(parse_role(r.name()).unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
        assert!(matches!(parse_role("root"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn migration_index_lists_exactly_the_terminal_phases() {
        let sql = crate::migrations::MIGRATIONS[0];
        let expected = format!("WHERE phase NOT IN ({})", terminal_phases_sql());
        assert!(
            sql.contains(&expected),
            "the partial unique index must list exactly the terminal phases: {expected}"
        );
    }

    #[test]
    fn json_that_would_change_is_refused() {
        assert!(to_json(&1.5f64, "x").is_ok());
        assert!(matches!(
            to_json(&f64::NAN, "x"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            to_json(&Some(f64::INFINITY), "x"),
            Err(StoreError::Invalid(_))
        ));
    }
}
