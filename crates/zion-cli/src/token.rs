//! `zion token create|list|revoke`: API tokens for named principals, each
//! with a role; a new token is printed once and never again.

use jiff::Timestamp;
use zion_core::api::{CreateToken, CreatedToken, RevokedToken, TokenView};

use crate::cli::{Global, Output, RoleArg, TokenCmd};
use crate::client::Client;
use crate::commands::urlencode;
use crate::exit::Failure;
use crate::render::{self, table};

/// Runs one `zion token` subcommand.
pub async fn run(g: &Global, cmd: TokenCmd) -> Result<(), Failure> {
    let client = Client::new(g)?;
    match cmd {
        TokenCmd::Create { name, role, github } => create(g, &client, &name, role, github).await,
        TokenCmd::List => list(g, &client).await,
        TokenCmd::Revoke { name } => revoke(g, &client, &name).await,
    }
}

fn role_name(role: RoleArg) -> &'static str {
    match role {
        RoleArg::Viewer => "viewer",
        RoleArg::Deployer => "deployer",
        RoleArg::Approver => "approver",
        RoleArg::Admin => "admin",
    }
}

async fn create(
    g: &Global,
    client: &Client,
    name: &str,
    role: RoleArg,
    github: Option<String>,
) -> Result<(), Failure> {
    let body = CreateToken {
        name: name.to_string(),
        role: role_name(role).to_string(),
        github,
    };
    let created: CreatedToken = client.post_view("/tokens", &body).await?;
    match g.output {
        Output::Json => println!("{}", render::json(&created)),
        Output::Text => print!("{}", created_text(&created)),
    }
    Ok(())
}

/// The secret on a line of its own (easy to copy or pipe), then how to use it.
fn created_text(t: &CreatedToken) -> String {
    let token = &t.token;
    let github = match &t.github {
        Some(login) => format!(", GitHub {login}"),
        None => String::new(),
    };
    format!(
        "{token}\ntoken `{}` (role {}{github}) created; it is shown only once, store it now. \
         Use it as: ZION_TOKEN={token} zion …\n",
        t.name,
        t.role.name(),
    )
}

async fn list(g: &Global, client: &Client) -> Result<(), Failure> {
    let tokens: Vec<TokenView> = client.get_view("/tokens").await?;
    match g.output {
        Output::Json => println!("{}", render::json(&tokens)),
        Output::Text => print!("{}", list_text(&tokens)),
    }
    Ok(())
}

fn list_text(tokens: &[TokenView]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.role.name().to_string(),
                t.github.as_deref().unwrap_or("-").to_string(),
                time(t.created_at),
                match t.revoked_at {
                    Some(at) => format!("revoked {}", time(at)),
                    None => "live".to_string(),
                },
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "GITHUB", "CREATED", "STATUS"], &rows)
}

async fn revoke(g: &Global, client: &Client, name: &str) -> Result<(), Failure> {
    let path = format!("/tokens/{}", urlencode(name));
    let revoked: RevokedToken = client.delete_view(&path).await?;
    match g.output {
        Output::Json => println!("{}", render::json(&revoked)),
        Output::Text => println!("token `{name}` revoked: it no longer authorises anything"),
    }
    Ok(())
}

/// `2026-11-22T03:12:01.123Z` → `2026-11-22 03:12:01Z`.
fn time(at: Timestamp) -> String {
    let t = at.to_string();
    match (t.get(..10), t.get(11..19)) {
        (Some(day), Some(clock)) => format!("{day} {clock}Z"),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use zion_core::spec::Role;

    use super::*;

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn created_text_puts_the_token_alone_on_the_first_line() {
        let t = CreatedToken {
            created_at: at("2026-01-02T03:04:05Z"),
            github: Some("alice-gh".into()),
            name: "alice".into(),
            role: Role::Approver,
            token: "zion_abc".into(),
        };
        let text = created_text(&t);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("zion_abc"));
        let rest = lines.next().unwrap();
        assert!(rest.contains("shown only once"), "{rest}");
        assert!(rest.contains("ZION_TOKEN=zion_abc zion"), "{rest}");
        assert!(rest.contains("GitHub alice-gh"), "{rest}");
        assert!(rest.contains("token `alice` (role approver, "), "{rest}");
    }

    #[test]
    fn list_text_aligns_columns_and_marks_revoked() {
        let text = list_text(&[
            TokenView {
                created_at: at("2026-01-02T03:04:05.123Z"),
                github: None,
                name: "admin".into(),
                revoked_at: None,
                role: Role::Admin,
            },
            TokenView {
                created_at: at("2026-01-02T03:04:05Z"),
                github: Some("alice-gh".into()),
                name: "alice-long".into(),
                revoked_at: Some(at("2026-01-03T00:00:00Z")),
                role: Role::Approver,
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME        ROLE"), "{text}");
        assert!(lines[1].ends_with("2026-01-02 03:04:05Z  live"), "{text}");
        assert!(lines[2].ends_with("revoked 2026-01-03 00:00:00Z"), "{text}");
        assert_eq!(lines[1].find("admin  "), Some(0));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencode("ci.bot_2-x"), "ci.bot_2-x");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }
}
