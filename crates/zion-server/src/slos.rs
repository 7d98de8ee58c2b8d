//! SLO measurement: the replica of `zion up` that drives a target records
//! its SLOs' SLI rows (so two replicas never count one request twice),
//! and evaluates their alerts, writing each transition (firing, resolved,
//! budget exhausted) through the journal as an audit entry with the
//! alert's new state. The arithmetic is `zion_core::slo`'s.
//!
//! Every second, the requests the target's built-in listener completed
//! since the last pass are added to the row of the current minute of the
//! server's clock (the traffic itself is stamped in real time; only the
//! row it lands in follows the clock, so a test moving the clock moves the
//! rows). The alerts are evaluated every few seconds and whenever the
//! clock's minute changes; one-minute rows older than the SLO's retention
//! are rolled up hourly once an hour. A probe SLI is counted by its
//! probes (`probe.rs`), a prometheus SLI by its queries, one whole minute
//! at a time (`prometheus.rs`).
//!
//! On PostgreSQL with several replicas of `zion up`, each forwards part of
//! a target's traffic: the driver adds the other replicas' one-second
//! buckets (the data plane's, every version, never its own, which it reads
//! from its listener) once each second is [`OTHERS_GRACE`] old. Others
//! flush a second within `SETTLE + FLUSH_EVERY` (about 1.25 s) of its end,
//! so the grace leaves room for a slow flush; a bucket written later than
//! that is not counted. Each second is read once (a watermark per SLO), so
//! nothing is counted twice; a new driver starts from its own start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use zion_core::api::{SliMeasurement, SloView, rows_since};
use zion_core::audit::{AuditAction, Record};
use zion_core::slo::report::{Period, SloReport};
use zion_core::slo::rows::floor;
use zion_core::slo::{self, AlertState, Counts, SliRow, Transition};
use zion_core::spec::{Provider, Sli, SloPrometheus, SloSpec};
use zion_proxy::{SecondBucket, TrafficMetrics, decode_latency};

mod probe;
mod prometheus;

use crate::app::App;
use crate::audit::AuditError;
use crate::targets::TargetId;
use crate::ticker::Ticker;

/// How often the listeners' completed seconds are read.
const TICK: Duration = Duration::from_secs(1);
/// How long after a second ends the other replicas' buckets of it are
/// read (see the module's doc).
const OTHERS_GRACE: u64 = 5;
const _: () = assert!(OTHERS_GRACE > crate::data_plane::OTHERS_BEHIND);

/// How often the alerts are evaluated within one minute of the clock.
const EVALUATE_EVERY: Duration = Duration::from_secs(5);

/// Runs until shutdown.
pub(crate) async fn run(app: Arc<App>, shutdown: watch::Receiver<bool>) {
    let mut recorder = Recorder::default();
    let mut ticker = Ticker::new(TICK, shutdown);
    while ticker.tick().await {
        recorder.pass(&app).await;
    }
}

/// What one SLO's recording has reached on this replica.
struct Progress {
    /// The first second not read yet, of this replica's listener and of
    /// the other replicas' buckets.
    next_second: u64,
    next_others_second: u64,
    /// The clock's minute being filled, and its counts so far.
    minute: Timestamp,
    counts: Counts,
    evaluated: Option<(Timestamp, std::time::Instant)>,
    rolled_up: Option<Timestamp>,
    /// A probe SLI's probing.
    prober: probe::Prober,
    /// A prometheus SLI's minutes.
    minutes: prometheus::Minutes,
}

/// What this replica knows of its prometheus SLIs' measurement, by SLO id:
/// the last minute recorded and the last failure.
#[derive(Default)]
pub(crate) struct Measurements(Mutex<HashMap<String, Measured>>);

#[derive(Default, Clone)]
struct Measured {
    last_minute: Option<Timestamp>,
    error: Option<(Timestamp, String)>,
}

impl Measurements {
    fn update(&self, id: &str, f: impl FnOnce(&mut Measured)) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(id.to_owned()).or_default());
    }

    fn forget(&self, id: &str) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(id);
    }

    /// The measurement of `id` as shown, if this replica measures it.
    fn view(&self, id: &str, now: Timestamp) -> Option<SliMeasurement> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.get(id)
            .map(|m| SliMeasurement::new(m.last_minute, m.error.clone(), now))
    }
}

#[derive(Default)]
struct Recorder {
    slos: HashMap<String, Progress>,
}

impl Recorder {
    async fn pass(&mut self, app: &App) {
        let spec = app.spec();
        if spec.slos.is_empty() {
            return;
        }
        let metrics: HashMap<TargetId, Arc<TrafficMetrics>> =
            app.targets.all_metrics().await.into_iter().collect();
        let real = SystemTime::now();
        let now = app.clock.now();
        for slo in &spec.slos {
            let id = slo.id();
            let target = TargetId::new(&slo.service, &slo.environment);
            // A probe SLI needs no listener; the others read the target's.
            let traffic = metrics.get(&target);
            let measured =
                matches!(slo.sli, Sli::Probe(_) | Sli::Prometheus(_)) || traffic.is_some();
            if !measured || !app.leases.drives(&target) {
                // Driven elsewhere: its driver records it.
                self.slos.remove(&id);
                app.slo_measurements.forget(&id);
                continue;
            }
            let progress = self.slos.entry(id.clone()).or_insert_with(|| Progress {
                next_second: unix_secs(real),
                next_others_second: unix_secs(real),
                minute: Timestamp::MIN,
                counts: Counts::default(),
                evaluated: None,
                rolled_up: None,
                prober: probe::Prober::default(),
                minutes: prometheus::Minutes::default(),
            });
            if let Sli::Prometheus(q) = &slo.sli {
                if let Err(e) = record_queried(app, slo, q, progress, now) {
                    tracing::warn!(slo = %id, error = %e, "cannot record the SLO's SLI");
                    continue;
                }
                if let Err(e) = evaluate(app, slo, progress, now).await {
                    tracing::warn!(slo = %id, error = %e, "cannot evaluate the SLO's alerts");
                }
                continue;
            }
            let seen = match (&slo.sli, traffic) {
                (Sli::Probe(p), _) => progress.prober.poll(&id, p),
                (_, Some(traffic)) => {
                    let buckets = traffic.completed_buckets(progress.next_second, real);
                    progress.next_second = progress.next_second.max(unix_secs(real));
                    counts(slo, &buckets) + others(app, &target, slo, progress, real)
                }
                (_, None) => Counts::default(),
            };
            if let Err(e) = record(app, slo, seen, progress, now) {
                tracing::warn!(slo = %id, error = %e, "cannot record the SLO's SLI");
                continue;
            }
            if let Err(e) = evaluate(app, slo, progress, now).await {
                tracing::warn!(slo = %id, error = %e, "cannot evaluate the SLO's alerts");
            }
        }
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Adds the events seen since the last pass to the clock minute's row,
/// and rolls up old rows once an hour.
fn record(
    app: &App,
    slo: &SloSpec,
    seen: Counts,
    progress: &mut Progress,
    now: Timestamp,
) -> Result<(), zion_store::StoreError> {
    let id = slo.id();
    let minute = floor(now, 60);
    if minute != progress.minute {
        // A minute recorded before (by this replica before a restart, or
        // by the target's last driver) is added to, not replaced.
        let earlier = app.store.sli_rows(&id, minute)?;
        progress.counts = earlier
            .iter()
            .find(|r| r.start == minute && r.minutes == 1)
            .map(SliRow::counts)
            .unwrap_or_default();
        progress.minute = minute;
    }
    if seen.total > 0 {
        progress.counts = progress.counts + seen;
        app.store.record_sli(
            &id,
            &[SliRow::minute(minute, progress.counts, slo.objective)],
        )?;
    }
    roll_up(app, slo, progress, now)
}

/// Records the minute a prometheus SLI's queries measured since the last
/// pass, if any, in place of any row of that minute (its counts are the
/// whole minute's), and rolls up old rows once an hour. A failed minute
/// records nothing and is kept to be shown.
fn record_queried(
    app: &App,
    slo: &SloSpec,
    q: &SloPrometheus,
    progress: &mut Progress,
    now: Timestamp,
) -> Result<(), zion_store::StoreError> {
    let id = slo.id();
    let spec = app.spec();
    let provider = spec
        .providers
        .get(&q.provider)
        .and_then(Provider::prometheus);
    let last_recorded = || {
        let since = now.checked_sub(SignedDuration::from_hours(2)).ok()?;
        let rows = app.store.sli_rows(&id, since).ok()?;
        rows.iter().rev().find(|r| r.minutes == 1).map(|r| r.start)
    };
    match progress
        .minutes
        .poll(q, provider, &app.base_dir, now, last_recorded)
    {
        None => {}
        Some((minute, Ok(counts))) => {
            if counts.total > 0 {
                app.store
                    .record_sli(&id, &[SliRow::minute(minute, counts, slo.objective)])?;
            }
            app.slo_measurements
                .update(&id, |m| m.last_minute = Some(minute));
        }
        Some((minute, Err(why))) => {
            tracing::warn!(slo = %id, minute = %minute, error = %why, "SLO minute not measured: nothing recorded for it");
            app.slo_measurements
                .update(&id, |m| m.error = Some((minute, why)));
        }
    }
    roll_up(app, slo, progress, now)
}

/// Rolls up the rows older than the SLO's retention, once an hour.
fn roll_up(
    app: &App,
    slo: &SloSpec,
    progress: &mut Progress,
    now: Timestamp,
) -> Result<(), zion_store::StoreError> {
    let id = slo.id();
    let hour = floor(now, 3600);
    if progress.rolled_up != Some(hour) {
        let retention = SignedDuration::try_from(slo.retention).unwrap_or(SignedDuration::ZERO);
        let before = floor(now.checked_sub(retention).unwrap_or(Timestamp::MIN), 3600);
        app.store.roll_up_sli(&id, before)?;
        progress.rolled_up = Some(hour);
    }
    Ok(())
}

/// The other replicas' events of the seconds that are [`OTHERS_GRACE`]
/// old and not read yet (none without a shared data plane).
fn others(
    app: &App,
    target: &TargetId,
    slo: &SloSpec,
    progress: &mut Progress,
    real: SystemTime,
) -> Counts {
    let Some(plane) = app.targets.data_plane() else {
        return Counts::default();
    };
    let Some(last) = unix_secs(real).checked_sub(OTHERS_GRACE) else {
        return Counts::default();
    };
    if last < progress.next_others_second {
        return Counts::default();
    }
    match plane.others_seconds(target, progress.next_others_second, last) {
        Some(buckets) => {
            progress.next_others_second = last + 1;
            counts(slo, &buckets)
        }
        None => Counts::default(),
    }
}

/// The good and all events of some seconds, by the SLO's SLI.
fn counts(slo: &SloSpec, buckets: &[SecondBucket]) -> Counts {
    buckets.iter().fold(Counts::default(), |acc, b| {
        let seen = match &slo.sli {
            Sli::Availability => Counts::new(b.requests.saturating_sub(b.errors), b.requests),
            // Requests counted without latencies (an HAProxy target read
            // from its statistics) cannot be judged, so they are left out.
            Sli::Latency { threshold } => match decode_latency(&b.latency) {
                Ok(h) if !h.is_empty() => {
                    let limit = u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX);
                    Counts::new(h.count_between(0, limit), h.len())
                }
                _ => Counts::default(),
            },
            // Counted by its prober or its queries, never from traffic.
            Sli::Probe(_) | Sli::Prometheus(_) => Counts::default(),
        };
        acc + seen
    })
}

/// Evaluates the alerts when due, committing any transition.
async fn evaluate(
    app: &App,
    slo: &SloSpec,
    progress: &mut Progress,
    now: Timestamp,
) -> Result<(), AuditError> {
    let minute = floor(now, 60);
    let due = match progress.evaluated {
        None => true,
        Some((m, at)) => m != minute || at.elapsed() >= EVALUATE_EVERY,
    };
    if !due {
        return Ok(());
    }
    progress.evaluated = Some((minute, std::time::Instant::now()));
    let id = slo.id();
    let rows = app.store.sli_rows(&id, rows_since(slo, now))?;
    let recorded = app.store.slo_alerts(&id)?;
    let view = SloView::build(slo, &rows, &recorded, now);
    let firing = slo::alerts::firing(&view.burn_rates, &view.budget);
    let changes = slo::alerts::transitions(&recorded, &firing);
    if changes.is_empty() {
        return Ok(());
    }
    let states: Vec<AlertState> = changes
        .iter()
        .map(|t| AlertState {
            alert: t.alert(),
            firing: matches!(t, Transition::Firing(_)),
            since: now,
        })
        .collect();
    let records: Vec<Record> = changes.iter().map(|t| entry(slo, &view, *t)).collect();
    for t in &changes {
        tracing::warn!(slo = %id, alert = t.alert().name(), firing = matches!(t, Transition::Firing(_)), "SLO alert");
    }
    app.journal
        .commit_with(&records, now, |store, audit| {
            store
                .set_slo_alerts(&id, &states, audit)
                .map_err(AuditError::from)
        })
        .await
}

/// The audit entry of one transition: the SLO, its target, the alert and
/// its severity, the burn rates of the alert's windows and the budget
/// left.
fn entry(slo: &SloSpec, view: &SloView, t: Transition) -> Record {
    let alert = t.alert();
    let action = match t {
        Transition::Firing(slo::AlertKind::BudgetExhausted) => AuditAction::ErrorBudgetExhausted,
        Transition::Firing(_) => AuditAction::SloAlertFiring,
        Transition::Resolved(_) => AuditAction::SloAlertResolved,
    };
    let burn_rates: Vec<_> = view
        .burn_rates
        .iter()
        .filter(|r| r.alert == alert)
        .map(|r| {
            serde_json::json!({
                "factor": r.factor,
                "long_window": r.long_window,
                "long_burn": r.long_burn,
                "short_window": r.short_window,
                "short_burn": r.short_burn,
            })
        })
        .collect();
    Record::new(
        "controller",
        action,
        // One subject per alert of the SLO: a notifier's trouble (a
        // PagerDuty dedup key) is one alert, resolved by that alert alone.
        format!("slo/{}/{}", slo.id(), alert.name()),
        serde_json::json!({
            "slo": slo.id(),
            "service": slo.service,
            "environment": slo.environment,
            "alert": alert.name(),
            "severity": alert.severity().name(),
            "objective": slo.objective,
            "burn_rates": burn_rates,
            "budget_remaining": view.budget.remaining,
        }),
    )
}

impl App {
    /// Every SLO of the spec over the last `period`, from the recorded rows.
    pub(crate) fn slo_report(&self, period: Period) -> Result<SloReport, zion_store::StoreError> {
        let until = self.clock.now();
        let since = slo::report::since(period, until);
        let slos = self
            .spec()
            .slos
            .iter()
            .map(|s| {
                let rows = self.store.sli_rows(&s.id(), since)?;
                Ok(slo::report::slo_period(s, &rows, period, until))
            })
            .collect::<Result<Vec<_>, zion_store::StoreError>>()?;
        Ok(SloReport {
            period,
            since,
            until,
            slos,
        })
    }

    /// Every SLO of the spec as it stands now, from the recorded rows.
    pub(crate) fn slo_views(&self) -> Result<Vec<SloView>, zion_store::StoreError> {
        let now = self.clock.now();
        self.spec()
            .slos
            .iter()
            .map(|slo| {
                let id = slo.id();
                let rows = self.store.sli_rows(&id, rows_since(slo, now))?;
                let alerts = self.store.slo_alerts(&id)?;
                let mut view = SloView::build(slo, &rows, &alerts, now);
                if matches!(slo.sli, Sli::Prometheus(_)) {
                    view.measurement = self.slo_measurements.view(&id, now);
                }
                Ok(view)
            })
            .collect()
    }
}
