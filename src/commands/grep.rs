//! `mcp-cli grep <glob>`: tool names across all servers.

use serde_json::json;

use super::Context;
use super::list::{fetch_all, finish_closing, one_line};
use crate::config::Glob;
use crate::error::McpError;

/// Prints `server/tool` for every visible tool whose name matches the glob
/// (or whose `server/tool` does, when the glob has a `/`). No match is `NO_MATCH`, exit 1, like grep(1). A server
/// that fails does not hide matches on the others, but sets the exit code.
pub async fn grep(context: &Context, pattern: &str) -> Result<(), McpError> {
    let glob = Glob::new(pattern);
    let mut signals = context.signals.clone();
    let (results, closing) = tokio::select! {
        biased;
        error = signals.interrupted() => return Err(error),
        results = fetch_all(context) => results,
    };
    let mut first_error = None;
    let mut text = String::new();
    let mut matches = Vec::new();
    for (entry, result) in context.config.servers.iter().zip(results) {
        let listing = match result {
            Ok(found) => found,
            Err(error) => {
                match first_error {
                    None => first_error = Some(error),
                    Some(_) => context.printer.error(&error),
                }
                continue;
            }
        };
        for tool in &listing.tools {
            let path = format!("{}/{}", entry.name, tool.name);
            let subject = if pattern.contains('/') {
                &path
            } else {
                &tool.name
            };
            if !glob.is_match(subject) {
                continue;
            }
            if context.printer.json() {
                matches.push(json!({
                    "server": entry.name,
                    "tool": tool.name,
                    "description": tool.description(),
                }));
            } else {
                match tool.description().filter(|_| context.with_descriptions) {
                    Some(description) => {
                        text.push_str(&format!("{path} - {}\n", one_line(description)))
                    }
                    None => text.push_str(&format!("{path}\n")),
                }
            }
        }
    }
    let found = !matches.is_empty() || !text.is_empty();
    let printed = if context.printer.json() {
        context.printer.out_json(&json!(matches))
    } else {
        context.printer.out(&text)
    };
    finish_closing(closing).await;
    printed?;
    match (found, first_error) {
        (_, Some(error)) => Err(error),
        (true, None) => Ok(()),
        (false, None) => Err(McpError::NoMatch {
            pattern: pattern.to_owned(),
            servers: context.config.servers.len(),
        }),
    }
}
