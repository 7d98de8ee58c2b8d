//! Validation (being written).
use super::Spec;

/// One spec error: `path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub path: String,
    pub message: String,
}

/// All errors of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.0 {
            writeln!(f, "{}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}
impl std::error::Error for SpecErrors {}

/// Parses and validates a spec.
pub fn parse_spec(_yaml: &str) -> Result<Spec, SpecErrors> {
    Err(SpecErrors(vec![SpecError { path: String::new(), message: "not yet".into() }]))
}

/// One-screen summary.
pub fn summary(_spec: &Spec) -> String {
    String::new()
}
