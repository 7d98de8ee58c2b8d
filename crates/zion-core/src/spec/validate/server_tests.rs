//! `server:` specs, valid and not.

use crate::spec::SecretSource;
use crate::spec::validate::test_support::*;

#[test]
fn server_rules() {
    let spec = valid(
        "server: { listen: \"[::1]:7171\", data_dir: /var/lib/zion }\nenvironments: [{ name: dev }]\n",
    );
    assert_eq!(spec.server.listen, "[::1]:7171".parse().unwrap());
    assert_eq!(spec.server.data_dir, "/var/lib/zion");
    assert_error(
        "server: { listen: nowhere }\nenvironments: [{ name: dev }]\n",
        "server.listen",
        "`nowhere` is not an address",
    );
    assert_error(
        "server: { data_dir: \"\" }\nenvironments: [{ name: dev }]\n",
        "server.data_dir",
        "is empty",
    );
}

#[test]
fn github_webhook_secret_comes_from_env_or_file_never_inline() {
    let spec = |server: &str| {
        format!("server:\n  github: {server}\nenvironments: [{{ name: staging }}]\nservices: []\n")
    };
    let s = valid(&spec("{ webhook_secret_env: GH_SECRET }"));
    assert_eq!(
        s.server.github.unwrap().webhook_secret,
        SecretSource::Env("GH_SECRET".into())
    );
    let s = valid(&spec("{ webhook_secret_file: secrets/gh }"));
    assert_eq!(
        s.server.github.unwrap().webhook_secret,
        SecretSource::File("secrets/gh".into())
    );
    assert_error(&spec("{}"), "server.github", "webhook_secret_env");
    assert_error(
        &spec("{ webhook_secret_env: A, webhook_secret_file: b }"),
        "server.github",
        "keep one",
    );
    assert_error(
        &spec("{ webhook_secret_env: 9-bad }"),
        "server.github.webhook_secret_env",
        "not an environment variable name",
    );
    assert_error(
        &spec("{ webhook_secret: hunter2 }"),
        "server.github.webhook_secret",
        "",
    );
}
