//! `zion slo …`: the spec's service level objectives. `status` asks the
//! server for each SLO now; `rules` writes their Prometheus rules from the
//! spec file alone.

use zion_core::api::SloView;
use zion_core::slo::policy::percent;
use zion_core::slo::report::SloReport;
use zion_core::slo::rules;
use zion_core::spec::parse_spec;

use crate::cli::{Global, HistoryFormat, Output, SloCmd, SloPeriodArg};
use crate::client::Client;
use crate::exit::Failure;
use crate::render;

pub async fn run(g: &Global, cmd: SloCmd) -> Result<(), Failure> {
    match cmd {
        SloCmd::Status => status(g).await,
        SloCmd::Report { period, format } => report(g, period, format).await,
        SloCmd::Rules => rules_command(g),
    }
}

async fn status(g: &Global) -> Result<(), Failure> {
    let slos: Vec<SloView> = Client::new(g)?.get_view("/slos").await?;
    if g.output == Output::Json {
        println!("{}", render::json(&slos));
        return Ok(());
    }
    if slos.is_empty() {
        println!("no SLO is declared: add `slos:` to the spec");
        return Ok(());
    }
    for s in &slos {
        for line in lines(s) {
            println!("{line}");
        }
    }
    Ok(())
}

/// One SLO as `zion slo status` prints it.
fn lines(s: &SloView) -> Vec<String> {
    let sli = match s.threshold_ms {
        Some(ms) => format!("latency under {ms}ms"),
        None => s.sli.clone(),
    };
    let now = s
        .sli_now
        .map(percent_short)
        .unwrap_or_else(|| "no events yet".to_owned());
    let burns: Vec<String> = s
        .burn_rates
        .iter()
        .map(|r| {
            format!(
                "{}/{} {:.1}x/{:.1}x (>{}x)",
                r.long_window, r.short_window, r.long_burn, r.short_burn, r.factor
            )
        })
        .collect();
    let firing: Vec<String> = s
        .firing()
        .map(|a| {
            format!(
                "{} ({}) since {}",
                a.alert.name(),
                a.alert.severity().name(),
                a.since
            )
        })
        .collect();
    let mut out = vec![
        format!(
            "{}: {} {sli} over {}, by {}",
            s.id,
            percent(s.objective),
            s.window,
            s.budgeting.replace('_', " ")
        ),
        format!(
            "  SLI now {now} ({} good of {}), budget left {}, burn rate {:.2}x",
            s.good,
            s.total,
            percent_short(s.budget.remaining),
            s.budget.burn_rate
        ),
        format!("  burn rates: {}", burns.join(", ")),
        format!(
            "  alerts firing: {}",
            if firing.is_empty() {
                "none".to_owned()
            } else {
                firing.join(", ")
            }
        ),
    ];
    if let Some(m) = &s.measurement {
        out.push(measurement_line(m));
    }
    out
}

/// How a prometheus SLI's measurement stands: the last minute measured and,
/// when stale or failing, why.
fn measurement_line(m: &zion_core::api::SliMeasurement) -> String {
    let last = m
        .last_minute
        .map_or_else(|| "none yet".to_owned(), |t| t.to_string());
    let state = if m.stale { "STALE, " } else { "" };
    let mut line = format!("  measurement: {state}last minute measured {last}");
    if let (Some(error), Some(minute)) = (&m.error, m.error_minute) {
        line.push_str(&format!("; minute {minute} not measured: {error}"));
    }
    line
}

/// A ratio as a percentage to three decimals at most.
fn percent_short(ratio: f64) -> String {
    let text = format!("{:.3}", ratio * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

async fn report(g: &Global, period: SloPeriodArg, format: HistoryFormat) -> Result<(), Failure> {
    let name = match period {
        SloPeriodArg::Day => "day",
        SloPeriodArg::Week => "week",
        SloPeriodArg::Month => "month",
    };
    let report: SloReport = Client::new(g)?
        .get_view(&format!("/slos/report?period={name}"))
        .await?;
    let format = if g.output == Output::Json {
        HistoryFormat::Json
    } else {
        format
    };
    let text = match format {
        HistoryFormat::Json => format!("{}\n", zion_report::render_slo_json(&report)),
        HistoryFormat::Md => zion_report::render_slo_markdown(&report),
        HistoryFormat::Html => zion_report::render_slo_html(&report),
    };
    print!("{text}");
    Ok(())
}

fn rules_command(g: &Global) -> Result<(), Failure> {
    let yaml = std::fs::read_to_string(&g.file)
        .map_err(|e| Failure::usage(format!("cannot read the spec {}: {e}", g.file.display())))?;
    let spec = parse_spec(&yaml).map_err(|errs| {
        Failure::usage(format!(
            "{} is not a valid spec (run `zion lint`):\n{errs}",
            g.file.display()
        ))
    })?;
    let text = rules::export(&spec.slos).map_err(Failure::usage)?;
    print!("{text}");
    Ok(())
}
