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

#[test]
fn database_is_a_postgres_url_without_a_password() {
    let spec =
        |url: &str| format!("server: {{ database: \"{url}\" }}\nenvironments: [{{ name: dev }}]\n");
    assert_eq!(
        valid("environments: [{ name: dev }]\n").server.database,
        None
    );
    for url in [
        "postgres://zion@127.0.0.1:5432/zion",
        "postgresql://zion@db.example/zion?sslmode=disable",
        "postgres://zion@[::1]:5432/zion",
        "postgres://db.example/zion",
    ] {
        assert_eq!(valid(&spec(url)).server.database.as_deref(), Some(url));
    }
    for (url, says) in [
        ("mysql://zion@127.0.0.1/zion", "is not a PostgreSQL URL"),
        ("127.0.0.1:5432", "is not a PostgreSQL URL"),
        ("postgres:///zion", "does not name a host"),
        (
            "postgres://zion@127.0.0.1:99999/zion",
            "does not name a host",
        ),
        (
            "postgres://zion@127.0.0.1:port/zion",
            "does not name a host",
        ),
        ("postgres://zion:s3cret@127.0.0.1/zion", "holds a password"),
        (
            "postgres://zion@127.0.0.1/zion?password=s3cret",
            "holds a password",
        ),
        (
            "postgres://zion@127.0.0.1/zion?sslmode=disable&pool=4",
            "has the parameter `pool`, which the PostgreSQL driver does not know",
        ),
    ] {
        assert_error(&spec(url), "server.database", says);
        let shown = errors(&spec(url))
            .iter()
            .map(|e| e.to_string())
            .collect::<String>();
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
