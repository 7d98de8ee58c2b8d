//! Approval decisions: who may approve or reject a waiting deployment.
