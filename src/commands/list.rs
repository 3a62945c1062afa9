//! `mcp-cli` / `mcp-cli list`: every server with its tools.

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Context, Listing, close_all, fetch};
use crate::client::Session;
use crate::error::McpError;

/// Lists every server, queried in parallel (up to `MCP_CONCURRENCY`) and
/// printed in config order. A server that fails is reported in place; the
/// exit code is then the class of the first failure.
pub async fn list(context: &Context) -> Result<(), McpError> {
    let mut signals = context.signals.clone();
    let results = tokio::select! {
        results = fetch_all(context) => results,
        error = signals.interrupted() => return Err(error),
    };
    let mut sessions: Vec<Session> = Vec::new();
    let mut first_error: Option<McpError> = None;
    let mut text = String::new();
    let mut servers = Vec::new();
    for (entry, result) in context.config.servers.iter().zip(results) {
        match result {
            Ok((session, listing)) => {
                sessions.push(session);
                if context.printer.json() {
                    servers.push(server_json(&entry.name, &listing));
                } else {
                    text.push_str(&server_text(
                        &entry.name,
                        &listing,
                        context.with_descriptions,
                    ));
                }
            }
            Err(error) => {
                if context.printer.json() {
                    servers.push(json!({"name": entry.name, "error": error.to_json()}));
                } else {
                    let reason = error.to_string();
                    text.push_str(&format!("{}  (failed: {reason})\n", entry.name));
                }
                first_error.get_or_insert(error);
            }
        }
    }
    let printed = if context.printer.json() {
        context.printer.out_json(&json!({ "servers": servers }))
    } else {
        context.printer.out(&text)
    };
    close_all(sessions).await;
    printed?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Fetches every server's listing, in config order.
pub(super) async fn fetch_all(context: &Context) -> Vec<Result<(Session, Listing), McpError>> {
    futures::stream::iter(&context.config.servers)
        .map(|entry| fetch(context, entry))
        .buffered(context.config.concurrency.max(1))
        .collect()
        .await
}

fn server_text(name: &str, listing: &Listing, with_descriptions: bool) -> String {
    let mut text = format!("{name}\n");
    for tool in &listing.tools {
        match tool.description().filter(|_| with_descriptions) {
            Some(description) => {
                text.push_str(&format!("  • {} - {}\n", tool.name, one_line(description)))
            }
            None => text.push_str(&format!("  • {}\n", tool.name)),
        }
    }
    if listing.tools.is_empty() {
        text.push_str("  (no tools)\n");
    }
    text
}

fn server_json(name: &str, listing: &Listing) -> Value {
    json!({
        "name": name,
        "tools": listing.tools.iter().map(|tool| tool.raw.clone()).collect::<Vec<_>>(),
    })
}

/// The first line of a description, for listings.
pub(super) fn one_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    if line.chars().count() > 160 {
        let cut: String = line.chars().take(157).collect();
        format!("{cut}...")
    } else {
        line.to_owned()
    }
}
