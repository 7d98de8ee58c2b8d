//! `zion approve|reject|approvals|incident`.

use crate::cli::{Global, IncidentCmd};
use crate::exit::Failure;

pub async fn decide(
    _g: &Global,
    _id: i64,
    _kind: &str,
    _comment: Option<String>,
) -> Result<(), Failure> {
    Err(Failure::usage("approvals are being built".to_string()))
}

pub async fn approvals(_g: &Global) -> Result<(), Failure> {
    Err(Failure::usage("approvals are being built".to_string()))
}

pub async fn incident(_g: &Global, _cmd: IncidentCmd) -> Result<(), Failure> {
    Err(Failure::usage("incidents are being built".to_string()))
}
