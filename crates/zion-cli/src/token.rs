//! `zion token create|list|revoke`: API tokens for named principals, each
//! with a role; a new token is printed once and never again.

use serde_json::{Value, json};

use crate::cli::{Global, Output, RoleArg, TokenCmd};
use crate::client::Client;
use crate::commands::urlencode;
use crate::exit::Failure;
use crate::render::{s, table};

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
    let body = json!({ "name": name, "role": role_name(role), "github": github });
    let created = client.post("/tokens", &body).await?;
    match g.output {
        Output::Json => println!("{created}"),
        Output::Text => print!("{}", created_text(&created)),
    }
    Ok(())
}

/// The secret on a line of its own (easy to copy or pipe), then how to use it.
fn created_text(t: &Value) -> String {
    let token = t["token"].as_str().unwrap_or("-");
    let github = match t["github"].as_str() {
        Some(login) => format!(", GitHub {login}"),
        None => String::new(),
    };
    format!(
        "{token}\ntoken `{}` (role {}{github}) created; it is shown only once, store it now. \
         Use it as: ZION_TOKEN={token} zion …\n",
        s(&t["name"]),
        s(&t["role"]),
    )
}

async fn list(g: &Global, client: &Client) -> Result<(), Failure> {
    let tokens = client.get("/tokens").await?;
    match g.output {
        Output::Json => println!("{tokens}"),
        Output::Text => print!(
            "{}",
            list_text(tokens.as_array().map_or(&[], Vec::as_slice))
        ),
    }
    Ok(())
}

fn list_text(tokens: &[Value]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                s(&t["name"]).to_string(),
                s(&t["role"]).to_string(),
                s(&t["github"]).to_string(),
                time(&t["created_at"]),
                match t["revoked_at"].as_str() {
                    Some(_) => format!("revoked {}", time(&t["revoked_at"])),
                    None => "live".to_string(),
                },
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "GITHUB", "CREATED", "STATUS"], &rows)
}

async fn revoke(g: &Global, client: &Client, name: &str) -> Result<(), Failure> {
    let path = format!("/tokens/{}", urlencode(name));
    let out = client.delete(&path).await?;
    match g.output {
        Output::Json => println!("{out}"),
        Output::Text => println!("token `{name}` revoked: it no longer authorises anything"),
    }
    Ok(())
}

/// `2026-11-22T03:12:01.123Z` → `2026-11-22 03:12:01Z`.
fn time(v: &Value) -> String {
    match v.as_str() {
        Some(t) if t.len() >= 19 => format!("{} {}Z", &t[..10], &t[11..19]),
        _ => s(v).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_text_puts_the_token_alone_on_the_first_line() {
        let t = json!({ "name": "alice", "role": "approver", "github": "alice-gh",
                        "created_at": "2026-01-02T03:04:05Z", "token": "zion_abc" });
        let text = created_text(&t);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("zion_abc"));
        let rest = lines.next().unwrap();
        assert!(rest.contains("shown only once"), "{rest}");
        assert!(rest.contains("ZION_TOKEN=zion_abc zion"), "{rest}");
        assert!(rest.contains("GitHub alice-gh"), "{rest}");
    }

    #[test]
    fn list_text_aligns_columns_and_marks_revoked() {
        let text = list_text(&[
            json!({ "name": "admin", "role": "admin", "github": null,
                    "created_at": "2026-01-02T03:04:05.123Z", "revoked_at": null }),
            json!({ "name": "alice-long", "role": "approver", "github": "alice-gh",
                    "created_at": "2026-01-02T03:04:05Z", "revoked_at": "2026-01-03T00:00:00Z" }),
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
