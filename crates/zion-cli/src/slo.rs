//! `zion slo …`: the spec's service level objectives. `rules` writes
//! their Prometheus rules from the spec file alone.

use zion_core::slo::rules;
use zion_core::spec::parse_spec;

use crate::cli::{Global, SloCmd};
use crate::exit::Failure;

pub fn run(g: &Global, cmd: SloCmd) -> Result<(), Failure> {
    match cmd {
        SloCmd::Rules => rules_command(g),
    }
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
