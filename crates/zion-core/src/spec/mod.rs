//! The `zion.yaml` spec: the validated model, parsing and validation.

mod model;
mod raw;
mod validate;
mod windows;

pub use model::*;
pub use validate::{SpecError, SpecErrors, parse_spec, summary};
