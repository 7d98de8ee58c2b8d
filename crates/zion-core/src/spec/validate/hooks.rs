//! `services[].hooks`: each point's list of hooks, each an `exec` or an
//! `http` call with its timeout and retries.

use super::providers::{http_url, secret};
use super::{Report, at, text};
use crate::hooks::HookPoint;
use crate::spec::hooks::{Hook, HookAction, HooksSpec, HttpHook};
use crate::spec::ranges;
use crate::spec::raw::{RawHook, RawHooks, RawHttpHook, keys};

/// Attempts after the first beyond which a hook is more likely broken
/// than unlucky (10 retries already wait 17 minutes between them).
const MAX_RETRIES: i64 = 10;

const METHODS: [&str; 4] = ["POST", "PUT", "GET", "PATCH"];

pub(super) fn hooks(r: &mut Report, p: &str, raw: Option<&RawHooks>) -> HooksSpec {
    let mut spec = HooksSpec::default();
    let Some(raw) = raw else { return spec };
    r.unknown(p, &raw.unknown, keys::HOOKS);
    for point in HookPoint::ALL {
        let list = match point {
            HookPoint::PreRollout => &raw.pre_rollout,
            HookPoint::PreStep => &raw.pre_step,
            HookPoint::PostStep => &raw.post_step,
            HookPoint::ConfirmPromotion => &raw.confirm_promotion,
            HookPoint::PostRollout => &raw.post_rollout,
            HookPoint::OnRollback => &raw.on_rollback,
        };
        let pp = at(p, point.name());
        for (i, h) in list.iter().flatten().enumerate() {
            if let Some(hook) = hook(r, &format!("{pp}[{i}]"), h) {
                spec.at_mut(point).push(hook);
            }
        }
    }
    spec
}

fn hook(r: &mut Report, p: &str, raw: &RawHook) -> Option<Hook> {
    r.unknown(p, &raw.unknown, keys::HOOK);
    let action = match (&raw.exec, &raw.http) {
        (Some(_), Some(_)) => {
            r.add(p, "has both exec and http: a hook runs one of them");
            None
        }
        (None, None) => {
            r.add(
                p,
                "says nothing to run: give `exec: [./smoke.sh]` or `http: { url: http://127.0.0.1:9000/hook }`",
            );
            None
        }
        (Some(argv), None) => exec(r, &at(p, "exec"), argv),
        (None, Some(h)) => http(r, &at(p, "http"), h),
    };
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        Hook::DEFAULT_TIMEOUT,
        ranges::HOOK_TIMEOUT,
    );
    let retries = match raw.retries {
        None => 0,
        Some(n) if (0..=MAX_RETRIES).contains(&n) => n as u32,
        Some(n) => {
            r.add(
                at(p, "retries"),
                format!("{n} is out of range: give 0 to {MAX_RETRIES} attempts after the first"),
            );
            0
        }
    };
    Some(Hook {
        action: action?,
        timeout,
        retries,
    })
}

fn exec(r: &mut Report, p: &str, argv: &[crate::spec::raw::Text]) -> Option<HookAction> {
    match argv.first() {
        None => {
            r.add(
                p,
                "is empty: give the program and its arguments, e.g. `exec: [./smoke.sh]`",
            );
            None
        }
        Some(program) if program.as_str().trim().is_empty() => {
            r.add(
                format!("{p}[0]"),
                "the program name is empty: name the program to run",
            );
            None
        }
        Some(_) => Some(HookAction::Exec(
            argv.iter().map(|a| a.as_str().to_string()).collect(),
        )),
    }
}

fn http(r: &mut Report, p: &str, raw: &RawHttpHook) -> Option<HookAction> {
    r.unknown(p, &raw.unknown, keys::HTTP_HOOK);
    let url = http_url(
        r,
        &at(p, "url"),
        raw.url.as_ref(),
        "url: http://127.0.0.1:9000/hook",
    );
    let method = match text(raw.method.as_ref()).map(str::trim) {
        None => "POST".to_string(),
        Some(m) => {
            let upper = m.to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                r.add(
                    at(p, "method"),
                    format!(
                        "`{m}` is not a method a hook may use: use one of {}",
                        METHODS.join(", ")
                    ),
                );
                return None;
            }
            upper
        }
    };
    let secret = match secret(
        r,
        p,
        ("secret_env", raw.secret_env.as_ref()),
        ("secret_file", raw.secret_file.as_ref()),
    ) {
        None => None,
        Some(None) => return None,
        Some(Some(s)) => Some(s),
    };
    Some(HookAction::Http(HttpHook {
        url: url?,
        method,
        secret,
    }))
}

#[cfg(test)]
#[path = "hooks_tests.rs"]
mod tests;
