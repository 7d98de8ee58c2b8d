//! Contract tests of the [`Store`](crate::Store) areas: one function per
//! property every implementation must have, written against the area
//! traits only, so that each backend (SQLite today, PostgreSQL next) runs
//! the same suite. Compiled with the `contract` feature (and in this
//! crate's own tests).
//!
//! Each function takes `fresh`, a factory of new, empty stores; most call
//! it once, some once per case. A backend runs the whole suite, one
//! `#[test]` per property, with [`contract_tests!`](crate::contract_tests):
//!
//! ```text
//! mod contract {
//!     zion_store::contract_tests!(|| MyStore::connect_to_a_new_database());
//! }
//! ```
//!
//! What a backend's own storage promises beyond these (a file that survives
//! a restart, two connections racing, migrations of old schemas) is tested
//! with the backend.

pub mod audit;
pub mod data_plane;
pub mod deployments;
pub mod fixtures;
pub mod history;
pub mod incidents;
pub mod leases;
pub mod outbox;
pub mod processes;
pub mod rounds;
pub mod sessions;
pub mod slos;
pub mod specs;
pub mod tokens;

/// Expands to one `#[test]` per contract property, in a module per area
/// (`deployments::stale_revision_is_a_conflict_and_writes_nothing`…), each
/// calling the property with `$fresh`, an expression that makes a factory
/// of new, empty stores (a closure or a function's path; it is evaluated
/// once per test, in a child module of the caller's that sees its items).
#[macro_export]
macro_rules! contract_tests {
    ($fresh:expr) => {
        $crate::contract_tests! {
            @areas ($fresh)
            deployments [
                create_assigns_id_and_revision_and_round_trips,
                record_round_trips_every_field_events_and_rounds,
                target_is_busy_in_every_non_terminal_phase_and_free_in_every_terminal_one,
                busy_target_is_refused_until_its_deployment_finishes,
                a_finished_deployment_cannot_come_back_beside_an_active_one,
                stale_revision_is_a_conflict_and_writes_nothing,
                a_change_that_fails_half_way_is_rolled_back_entirely,
                values_that_would_not_read_back_exactly_are_refused,
                deployments_filter_and_order_newest_first,
                active_deployments_are_the_unfinished_ones_oldest_first,
                outcome_counts_count_the_finished_ones_per_target_and_phase,
                stable_version_follows_succeeded_deployments_only,
                has_succeeded_only_for_that_version_on_that_target,
                extreme_values_round_trip_exactly,
            ]
            rounds [
                a_run_of_identical_inconclusive_rounds_is_one_record,
            ]
            specs [
                latest_spec_is_the_last_saved,
            ]
            tokens [
                tokens_create_exist_revoke_and_reuse_names,
                token_by_github_finds_the_live_token_case_insensitively,
                a_github_login_belongs_to_one_live_token_until_revoked,
            ]
            incidents [
                an_incident_opened_alone_round_trips,
                an_incident_naming_a_missing_deployment_is_refused,
                record_change_writes_the_deployment_and_its_incidents_together,
                an_incident_opened_under_a_given_id_keeps_it_and_a_taken_id_changes_nothing,
                a_conflicting_change_leaves_no_incident_behind,
                an_incident_refused_inside_the_change_rolls_the_whole_change_back,
                record_without_incidents_still_records,
                resolve_target_resolves_only_that_targets_open_incidents,
                changes_apply_in_order_within_one_transition,
                resolving_twice_is_refused_and_changes_nothing,
                an_unknown_incident_is_not_found,
                incidents_filter_and_order_newest_first,
            ]
            audit [
                appends_continue_the_log_and_read_back_exactly,
                checkpoints_thin_to_the_first_of_each_hour_and_the_latest,
                a_gap_an_overlap_or_a_bad_node_writes_nothing,
                entries_ride_in_the_deployment_change_and_fall_with_it,
                filters_select_and_the_scan_reads_in_order_with_leaves,
                a_new_deployment_and_the_entries_naming_its_id_are_one_write,
                specs_tokens_and_incidents_are_written_with_their_entries_or_not_at_all,
                a_snapshot_reads_what_the_log_holds,
                a_group_writes_each_change_or_refuses_it_alone,
            ]
            history [
                a_second_import_of_the_same_file_adds_nothing,
                a_changed_record_under_an_old_id_refuses_the_whole_import,
                an_incident_blaming_an_unknown_deployment_is_refused,
                a_later_export_may_resolve_an_open_incident_but_not_move_it,
                the_filter_selects_by_target_and_finishing_time,
            ]
            processes [
                processes_record_replace_forget_and_list,
            ]
            leases [
                a_lease_has_one_holder_until_it_expires_then_a_new_epoch,
                a_released_lease_is_taken_over_at_once_under_a_new_epoch,
                a_change_under_an_old_epoch_is_refused_and_writes_nothing,
                replicas_are_listed_with_their_last_heartbeat,
                a_replica_renews_all_its_live_leases_at_once,
                many_leases_are_taken_and_released_at_once_under_the_rules_of_one,
                replicas_racing_for_many_targets_get_each_one_once,
            ]
            data_plane [
                routes_publish_under_growing_revisions,
                a_reader_following_revisions_misses_no_racing_publish,
                traffic_reads_a_window_without_the_readers_own,
                a_bad_flush_writes_nothing,
            ]
            outbox [
                rows_are_written_with_their_entries_or_not_at_all,
                claims_go_in_order_per_receiver_one_in_flight_per_row,
                pruning_deletes_only_rows_closed_before_the_cutoff,
                rows_without_an_entry_are_written_once,
            ]
            slos [
                sli_rows_round_trip_by_slo_and_start,
                roll_up_keeps_every_count,
                alert_states_are_replaced,
                alert_states_are_written_with_their_entries_or_not_at_all,
            ]
            sessions [
                sessions_are_created_found_touched_and_deleted,
                stale_sessions_are_deleted_and_live_ones_kept,
            ]
        }
    };
    (@areas ($fresh:expr) $($area:ident [$($name:ident),* $(,)?])*) => {
        $(
            mod $area {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[test]
                    fn $name() {
                        $crate::contract::$area::$name($fresh);
                    }
                )*
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every public function of an area taking only `fresh` is a property,
    /// and the suite must run each: a property missing from
    /// `contract_tests!` would never run against any backend.
    #[test]
    fn every_property_is_in_the_suite() {
        let suite = include_str!("mod.rs");
        let suite = &suite[suite.find("@areas ($fresh)").unwrap()..];
        let areas = [
            ("audit", include_str!("audit.rs")),
            ("data_plane", include_str!("data_plane.rs")),
            ("deployments", include_str!("deployments.rs")),
            ("history", include_str!("history.rs")),
            ("incidents", include_str!("incidents.rs")),
            ("leases", include_str!("leases.rs")),
            ("outbox", include_str!("outbox.rs")),
            ("processes", include_str!("processes.rs")),
            ("rounds", include_str!("rounds.rs")),
            ("slos", include_str!("slos.rs")),
            ("specs", include_str!("specs.rs")),
            ("tokens", include_str!("tokens.rs")),
            ("sessions", include_str!("sessions.rs")),
        ];
        let mut properties = 0;
        for (area, source) in areas {
            let start = suite
                .find(&format!("{area} ["))
                .unwrap_or_else(|| panic!("no `{area}` in contract_tests!"));
            let listed: Vec<&str> = suite[start..]
                .split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(names, _)| names.split(',').map(str::trim).collect())
                .unwrap();
            for (i, _) in source.match_indices("\npub fn ") {
                let signature: String = source[i + "\npub fn ".len()..]
                    .split('{')
                    .next()
                    .unwrap()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let name = &signature[..signature.find('<').unwrap_or(0)];
                if name.is_empty()
                    || !signature.ends_with("(fresh:implFn()->S,)")
                        && !signature.ends_with("(fresh:implFn()->S)")
                {
                    continue;
                }
                properties += 1;
                assert!(
                    listed.contains(&name),
                    "{area}::{name} is not in contract_tests!"
                );
            }
        }
        // The scan above must have found them: a change of style that hid
        // every property from it would otherwise pass.
        assert!(properties >= 44, "found {properties} properties");
    }
}
