-- Governance: each deployment's gate (approvals, window wait, pre-check
-- results, break glass) as JSON, like its plan.
ALTER TABLE deployments ADD COLUMN gate TEXT NOT NULL DEFAULT '{}';
