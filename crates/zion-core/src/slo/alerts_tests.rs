use std::time::Duration;

use super::*;
use crate::slo::budget::Counts;
use crate::slo::rows::counts;
use crate::slo::window;
use crate::spec::{Budgeting, Sli, SloWindow};

fn slo() -> SloSpec {
    SloSpec {
        name: "availability".into(),
        service: "web".into(),
        environment: "production".into(),
        objective: 0.999,
        window: SloWindow::Rolling { days: 30 },
        sli: Sli::Availability,
        budgeting: Budgeting::Events,
        retention: Duration::from_secs(7 * 86_400),
    }
}

fn start() -> Timestamp {
    "2026-05-01T00:00:00Z".parse().unwrap()
}

/// A minute of 1,000 requests, `bad` of them failed.
fn minute(t: Timestamp, bad: u64) -> SliRow {
    SliRow::minute(t, Counts::new(1_000 - bad, 1_000), 0.999)
}

/// Steps a clock one minute at a time, recording a row per minute and
/// the transitions each minute's evaluation gives, as the server does.
struct Run {
    slo: SloSpec,
    rows: Vec<SliRow>,
    states: Vec<AlertState>,
    now: Timestamp,
    log: Vec<(i64, Transition)>,
}

impl Run {
    fn new() -> Run {
        Run {
            slo: slo(),
            rows: Vec::new(),
            states: Vec::new(),
            now: start(),
            log: Vec::new(),
        }
    }

    /// Clean minutes, recorded without evaluating (nothing fires on them).
    fn quiet(&mut self, minutes: i64) {
        for _ in 0..minutes {
            self.rows.push(minute(self.now, 0));
            self.now += SignedDuration::from_mins(1);
        }
    }

    /// One minute with `bad` failures of 1,000, then the evaluation.
    fn minute(&mut self, bad: u64) {
        self.rows.push(minute(self.now, bad));
        self.now += SignedDuration::from_mins(1);
        let since = window::start(self.slo.window, self.now);
        let budget = Budget::of(
            self.slo.objective,
            counts(&self.rows, since, self.now, self.slo.budgeting),
        );
        let readings = readings(&self.slo, &self.rows, self.now);
        let now_firing = firing(&readings, &budget);
        for t in transitions(&self.states, &now_firing) {
            let minute = self.now.duration_since(start()).as_mins();
            self.log.push((minute, t));
            self.states.retain(|s| s.alert != t.alert());
            self.states.push(AlertState {
                alert: t.alert(),
                firing: matches!(t, Transition::Firing(_)),
                since: self.now,
            });
        }
    }
}

/// Three clean days: every window, up to the longest (3d), full of
/// clean minutes, so a burn rate reads as it would on a long-lived SLO.
const CLEAN: i64 = 3 * 1440;

#[test]
fn an_outage_pages_within_the_short_window_and_resolves_when_errors_stop() {
    let mut run = Run::new();
    run.quiet(CLEAN - 10);
    for _ in 0..10 {
        run.minute(0);
    }
    assert!(run.log.is_empty(), "{:?}", run.log);
    // Every request fails for one minute: 1000x over 5m (1 bad minute of
    // 5: 20% errors, 200x) and 16.7x over the hour: the page fires at once.
    run.minute(1_000);
    assert_eq!(
        run.log,
        vec![(CLEAN + 1, Transition::Firing(AlertKind::Page))]
    );
    for _ in 0..10 {
        run.minute(0);
    }
    // The 5m window holds the failed minute until five minutes after it;
    // then the page resolves, though the hour still burns 16.7x.
    assert_eq!(
        run.log[1],
        (CLEAN + 6, Transition::Resolved(AlertKind::Page))
    );
    assert_eq!(run.log.len(), 2, "{:?}", run.log);
    let r = readings(&run.slo, &run.rows, run.now);
    assert!((r[0].long_burn - 1000.0 / 60.0).abs() < 1e-9, "{r:?}");
}

#[test]
fn a_steady_burn_just_over_14_4_pages_after_an_hour_and_just_under_never() {
    // 1.5% errors: 15x. The hour window exceeds 14.4 once more than 57.6
    // of its minutes are failing ones (15 × k/60 > 14.4); the 5m window
    // from the first minute.
    let mut run = Run::new();
    run.quiet(CLEAN);
    for _ in 0..60 {
        run.minute(15);
    }
    assert_eq!(
        run.log,
        vec![(CLEAN + 58, Transition::Firing(AlertKind::Page))]
    );

    // 1.4% errors: 14x, never over 14.4; the 6x pair fires once 6h holds
    // more than 154.3 such minutes (14 × k/360 > 6).
    let mut run = Run::new();
    run.quiet(CLEAN);
    for _ in 0..120 {
        run.minute(14);
    }
    assert!(run.log.is_empty(), "{:?}", run.log);
    let r = readings(&run.slo, &run.rows, run.now);
    assert!((r[0].long_burn - 14.0).abs() < 1e-9, "{r:?}");
    assert!((r[0].short_burn - 14.0).abs() < 1e-9, "{r:?}");
    assert!(!r[0].firing);
    for _ in 0..60 {
        run.minute(14);
    }
    assert_eq!(
        run.log,
        vec![(CLEAN + 155, Transition::Firing(AlertKind::Page))]
    );
}

#[test]
fn a_slow_burn_opens_a_ticket_and_a_spent_budget_says_so() {
    let mut run = Run::new();
    run.quiet(CLEAN);
    // 0.4% errors: 4x. The 1d window exceeds 3x after 1,081 such minutes
    // (4 × k/1440 > 3), and the 3d window exceeds 1x at the same minute
    // (4 × k/4320 > 1).
    for _ in 0..1081 {
        run.minute(4);
    }
    assert_eq!(
        run.log,
        vec![(CLEAN + 1081, Transition::Firing(AlertKind::Ticket))]
    );
    // The window holds 1000 × (4320 + k) requests, 4k of them bad: 0.1%,
    // all the budget, once k reaches 1440.
    for _ in 1081..1439 {
        run.minute(4);
    }
    assert_eq!(run.log.len(), 1, "{:?}", run.log);
    run.minute(4);
    assert_eq!(
        run.log[1],
        (CLEAN + 1440, Transition::Firing(AlertKind::BudgetExhausted))
    );
}

#[test]
fn transitions_are_written_once() {
    let now = start();
    let firing_page = [AlertState {
        alert: AlertKind::Page,
        firing: true,
        since: now,
    }];
    assert_eq!(transitions(&firing_page, &[AlertKind::Page]), vec![]);
    assert_eq!(
        transitions(&firing_page, &[]),
        vec![Transition::Resolved(AlertKind::Page)]
    );
    assert_eq!(
        transitions(&[], &[AlertKind::Ticket]),
        vec![Transition::Firing(AlertKind::Ticket)]
    );
    assert_eq!(AlertKind::Page.severity(), Severity::Critical);
    assert_eq!(AlertKind::Ticket.severity(), Severity::Warning);
}
