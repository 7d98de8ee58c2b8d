//! Admission at the server: the facts a deployment request is judged on
//! (which required environments the version has not succeeded in, the
//! environment's pre-checks, read by `crate::prechecks`). The decision
//! itself (`requires`, quality gates, windows and freezes, pre-checks,
//! break glass) is `zion_core::governance::admission::admit`'s.

use jiff::Timestamp;
use zion_core::governance::admission;
use zion_core::governance::quality::Evidence;
use zion_core::governance::{CheckStage, Gate};
use zion_core::spec::PreCheck;

use crate::app::App;
use crate::auth::Principal;
use crate::error::ApiError;
pub(crate) use crate::prechecks::Subject;

/// What a request asks of the gate, beside service, environment and version.
#[derive(Debug, Clone, Default)]
pub(crate) struct GateRequest {
    pub wait_for_window: bool,
    pub break_glass: Option<String>,
    pub sha256: Option<String>,
    pub evidence: Option<Evidence>,
    pub commit: Option<String>,
}

/// A request that passed the gate: the gate the deployment carries, and a
/// note for its first event (e.g. that it is queued for the window).
pub(crate) struct Admitted {
    pub gate: Gate,
    pub note: Option<String>,
}

impl App {
    /// Gathers the facts a request is judged on and lets
    /// `zion_core::governance::admission::admit` decide: the gate the
    /// deployment will carry, or the refusal naming every reason. Nothing
    /// is written.
    pub(crate) async fn admit(
        &self,
        subject: &Subject<'_>,
        req: &GateRequest,
        principal: &Principal,
        now: Timestamp,
    ) -> Result<Admitted, ApiError> {
        let env = subject.environment;
        let mut unmet_requires = Vec::new();
        for required in &env.requires {
            if !self
                .store
                .has_succeeded(&subject.service.name, required, subject.version)?
            {
                unmet_requires.push(required.clone());
            }
        }
        // Only what the decision can use is read: the checks are skipped
        // under break glass, and the artifact is hashed only when it is
        // checked or recorded.
        let breaks_glass = req.break_glass.is_some();
        let (checks, listed_artifact) = if breaks_glass {
            (Vec::new(), None)
        } else {
            let e = self
                .prechecks()
                .evaluate(subject, CheckStage::Requested, now)
                .await;
            let artifact = e
                .results
                .iter()
                .find(|r| r.check == PreCheck::Artifact)
                .cloned()
                .map(|r| (r, e.artifact_sha256.clone()));
            (e.results, artifact)
        };
        let artifact = match listed_artifact {
            Some(a) => Some(a),
            None if breaks_glass || req.sha256.is_some() => Some(
                self.prechecks()
                    .artifact(subject, CheckStage::Requested, now)
                    .await,
            ),
            None => None,
        };
        let facts = admission::Facts {
            unmet_requires,
            artifact_declared: subject.service.workload.process.artifact.is_some(),
            checks,
            artifact,
        };
        let request = admission::Request {
            service: &subject.service.name,
            version: subject.version,
            kind: subject.kind,
            wait_for_window: req.wait_for_window,
            break_glass: req.break_glass.as_deref(),
            sha256: req.sha256.as_deref(),
            evidence: req.evidence.as_ref(),
            commit: req.commit.as_deref(),
        };
        match admission::admit(&request, env, &facts, principal, now) {
            Ok(admission::Admission { gate, note }) => Ok(Admitted { gate, note }),
            Err(admission::Refusal::Invalid(m)) => Err(ApiError::bad_request(m)),
            Err(admission::Refusal::Forbidden(m)) => Err(ApiError::forbidden(m)),
            Err(admission::Refusal::Policy { code, message }) => {
                Err(ApiError::refused(code, message))
            }
        }
    }
}
