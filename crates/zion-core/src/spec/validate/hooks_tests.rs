//! `hooks:` specs, valid and not.

use std::time::Duration;

use crate::spec::SecretSource;
use crate::spec::hooks::{Hook, HookAction, HttpHook};
use crate::spec::validate::test_support::*;

#[test]
fn hooks_are_read_with_their_defaults() {
    let spec = valid(&service(
        "hooks:\n\
         \x20 pre_rollout: [{ exec: [./smoke.sh], timeout: 2m }]\n\
         \x20 confirm_promotion: [{ http: { url: http://127.0.0.1:9000/ok, secret_env: HOOK_KEY }, timeout: 10s, retries: 2 }]\n\
         \x20 on_rollback: [{ exec: [./migrate.sh, down] }]\n",
    ));
    let hooks = &spec.services[0].hooks;
    assert_eq!(
        hooks.pre_rollout,
        vec![Hook {
            action: HookAction::Exec(vec!["./smoke.sh".into()]),
            timeout: Duration::from_secs(120),
            retries: 0,
        }]
    );
    assert_eq!(
        hooks.confirm_promotion,
        vec![Hook {
            action: HookAction::Http(HttpHook {
                url: "http://127.0.0.1:9000/ok".into(),
                method: "POST".into(),
                secret: Some(SecretSource::Env("HOOK_KEY".into())),
            }),
            timeout: Duration::from_secs(10),
            retries: 2,
        }]
    );
    assert_eq!(hooks.on_rollback[0].timeout, Hook::DEFAULT_TIMEOUT);
    assert!(hooks.pre_step.is_empty() && hooks.post_rollout.is_empty());
    assert!(valid(&service("")).services[0].hooks.is_empty());
}

#[test]
fn bad_hooks_are_refused_with_their_path() {
    assert_error(
        &service("hooks: { pre_rollout: [{ exec: [] }] }"),
        "services[0].hooks.pre_rollout[0].exec",
        "is empty",
    );
    assert_error(
        &service("hooks: { pre_step: [{ exec: [\"\"] }] }"),
        "services[0].hooks.pre_step[0].exec[0]",
        "the program name is empty",
    );
    assert_error(
        &service("hooks: { post_step: [{ http: { url: ftp://x } }] }"),
        "services[0].hooks.post_step[0].http.url",
        "is not an http:// or https:// URL",
    );
    assert_error(
        &service("hooks: { on_rollback: [{ exec: [./a], timeout: 0s }] }"),
        "services[0].hooks.on_rollback[0].timeout",
        "`0s` is zero: use 100ms to 1h",
    );
    assert_error(
        &service("hooks: { post_rollout: [{ exec: [./a], retries: -1 }] }"),
        "services[0].hooks.post_rollout[0].retries",
        "out of range",
    );
    assert_error(
        &service("hooks: { post_rollout: [{ exec: [./a], http: { url: http://h } }] }"),
        "services[0].hooks.post_rollout[0]",
        "has both exec and http",
    );
    assert_error(
        &service("hooks: { post_rollout: [{ timeout: 1s }] }"),
        "services[0].hooks.post_rollout[0]",
        "says nothing to run",
    );
    assert_error(
        &service("hooks: { confirm_promotion: [{ http: { url: http://h, method: DELETE } }] }"),
        "services[0].hooks.confirm_promotion[0].http.method",
        "not a method",
    );
    assert_error(
        &service("hooks: { confirm_promotion: [{ http: { url: http://h, secret_env: 1X } }] }"),
        "services[0].hooks.confirm_promotion[0].http.secret_env",
        "not an environment variable name",
    );
    assert_error(
        &service("hooks: { pre_rolout: [] }"),
        "services[0].hooks.pre_rolout",
        "did you mean `pre_rollout`?",
    );
}
