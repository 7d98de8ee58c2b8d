//! The `zion.yaml` spec: the validated model, parsing and validation.

mod artifact;
pub mod hooks;
mod model;
mod notifications;
mod providers;
mod ranges;
mod raw;
mod slos;
mod sources;
mod validate;
mod windows;
mod yaml_error;

pub use artifact::artifact_path;
pub use hooks::{Hook, HookAction, HooksSpec, HttpHook};
pub use model::*;
pub use notifications::*;
pub use providers::*;
pub use slos::*;
pub use sources::*;
pub use validate::{SpecError, SpecErrors, parse_spec, summary};
