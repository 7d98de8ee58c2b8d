//! The `zion.yaml` spec: the validated model, parsing and validation.

mod artifact;
mod model;
mod providers;
mod ranges;
mod raw;
mod validate;
mod windows;
mod yaml_error;

pub use artifact::artifact_path;
pub use model::*;
pub use providers::{HaproxyProvider, Provider};
pub use validate::{SpecError, SpecErrors, parse_spec, summary};
