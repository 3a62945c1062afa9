//! `mcp-cli auth`: log in to a remote server (OAuth), list the servers with
//! kept tokens (`--status`), or forget a server's tokens (`--logout`).

use std::io::IsTerminal;

use serde_json::{Value, json};

use super::{Context, Doing};
use crate::cli::AuthAction;
use crate::client::oauth;
use crate::error::McpError;
use crate::printer::Printer;

/// Logs in to `target`, or forgets its tokens.
pub async fn auth(
    context: &Context,
    target: Option<&str>,
    action: AuthAction,
) -> Result<(), McpError> {
    let Some(target) = target else {
        return status(&context.printer, None);
    };
    let entry = context.config.server(target)?;
    context.config.check(entry)?;
    let options = context.connect_options(None);
    let printer = &context.printer;
    match action {
        AuthAction::Status => status(printer, Some(&entry.name)),
        AuthAction::Logout => {
            let removed = crate::client::logout(entry, &options).await?;
            let message = match &removed {
                Some(_) => format!(
                    "Logged out of `{}`: its tokens are forgotten here (the server may still hold them until they expire).",
                    entry.name
                ),
                None => format!("No tokens were kept for `{}`.", entry.name),
            };
            if printer.json() {
                printer.out_json(&json!({ "server": entry.name, "forgotten": removed.is_some() }))
            } else {
                printer.note(&message);
                Ok(())
            }
        }
        AuthAction::Login => {
            let say = |line: &str| printer.note(line);
            let prompt = oauth::Prompt {
                say: &say,
                paste: std::io::stdin().is_terminal(),
            };
            let doing = Doing::new(format!("logging in to `{}`", entry.name));
            let mut signals = context.signals.clone();
            let (logged_in, file) = tokio::select! {
                biased;
                error = signals.interrupted() => return Err(error),
                result = context.until_deadline(crate::client::login(entry, &options, &prompt), &doing) => result?,
            };
            if printer.json() {
                return printer.out_json(&json!({
                    "server": entry.name,
                    "scopes": logged_in.scopes,
                    "refreshable": logged_in.refreshable,
                    "file": file.display().to_string(),
                }));
            }
            let scopes = if logged_in.scopes.is_empty() {
                String::new()
            } else {
                format!(" (scopes: {})", logged_in.scopes.join(" "))
            };
            printer.note(&format!(
                "Logged in to `{}`{scopes}. Tokens are kept in {}{}.",
                entry.name,
                file.display(),
                if logged_in.refreshable {
                    ", and refreshed when they expire"
                } else {
                    ""
                }
            ));
            Ok(())
        }
    }
}

/// Lists the servers with kept tokens (or the one named): their state,
/// scopes and expiry, never a token. Needs no config.
pub fn status(printer: &Printer, server: Option<&str>) -> Result<(), McpError> {
    let Some(dir) = oauth::dir() else {
        return Err(McpError::usage(
            "cannot tell where OAuth tokens are kept: set HOME or XDG_STATE_HOME",
        ));
    };
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let rows: Vec<Value> = files
        .iter()
        .map(|path| {
            let file = path.display().to_string();
            let store = oauth::FileStore::at(path);
            match store.read() {
                Ok(Some(record)) => row(&record, file),
                Ok(None) => json!({ "file": file, "state": "gone" }),
                Err(why) => json!({ "file": file, "state": "refused", "why": why }),
            }
        })
        .filter(|row: &Value| {
            server.is_none_or(|server| row.get("server").and_then(Value::as_str) == Some(server))
        })
        .collect();
    if printer.json() {
        return printer.out_json(&json!({ "dir": dir.display().to_string(), "servers": rows }));
    }
    if rows.is_empty() {
        return printer.out(&format!(
            "No OAuth tokens are kept (in {}).\n",
            dir.display()
        ));
    }
    let mut text = String::new();
    for row in &rows {
        let field = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default();
        let name = if field("server").is_empty() {
            field("file")
        } else {
            field("server")
        };
        text.push_str(&crate::printer::one_line(name));
        if !field("url").is_empty() && field("url") != name {
            text.push_str(&format!("  {}", crate::printer::one_line(field("url"))));
        }
        text.push_str(&format!("\n  {}", field("state")));
        if let Some(seconds) = row.get("expiresIn").and_then(Value::as_u64) {
            text.push_str(&format!(
                ", expires in {}",
                crate::error::format_duration(std::time::Duration::from_secs(seconds))
            ));
        }
        if row.get("refreshable").and_then(Value::as_bool) == Some(true) {
            text.push_str(", refreshable");
        }
        if !field("grant").is_empty() {
            text.push_str(&format!(", {}", field("grant")));
        }
        if let Some(scopes) = row.get("scopes").and_then(Value::as_array)
            && !scopes.is_empty()
        {
            let scopes: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
            text.push_str(&format!(
                "\n  scopes: {}",
                crate::printer::one_line(&scopes.join(" "))
            ));
        }
        if !field("pendingScope").is_empty() {
            text.push_str(&format!(
                "\n  the server asked for scope `{}`: the next `mcp-cli auth` asks for it",
                crate::printer::one_line(field("pendingScope"))
            ));
        }
        if !field("why").is_empty() {
            text.push_str(&format!("\n  {}", crate::printer::one_line(field("why"))));
        }
        text.push('\n');
    }
    printer.out(&text)
}

/// One server's kept tokens, as `--status` shows them.
fn row(record: &oauth::Record, file: String) -> Value {
    use oauth2::TokenResponse;
    let token = record
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.token_response.as_ref());
    let expires_in = record.credentials.as_ref().and_then(oauth::expires_in);
    let refreshable = token.is_some_and(|token| token.refresh_token().is_some());
    let state = match (token, expires_in) {
        (None, _) => "logged out (log in again)",
        (Some(_), Some(0)) if refreshable => "expired (refreshed at the next use)",
        (Some(_), Some(0)) if record.client_credentials => {
            "expired (obtained again at the next use)"
        }
        (Some(_), Some(0)) => "expired (log in again)",
        (Some(_), _) => "logged in",
    };
    json!({
        "server": record.server,
        "url": record.shown,
        "state": state,
        "expiresIn": expires_in.filter(|seconds| *seconds > 0),
        "refreshable": refreshable,
        "grant": if record.client_credentials { "client_credentials" } else { "authorization_code" },
        "scopes": record.credentials.as_ref().map(|credentials| credentials.granted_scopes.clone()).unwrap_or_default(),
        "pendingScope": record.step_up,
        "file": file,
    })
}
