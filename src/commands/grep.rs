//! `mcp-cli grep <glob>`: tool names across all servers.

use serde_json::json;

use super::Context;
use super::list::{fetch_all, finish_closing, one_line};
use crate::config::Glob;
use crate::error::McpError;

/// Prints `server/tool` for every visible tool whose name matches the glob
/// (or whose `server/tool` does, when the glob has a `/`), server by server
/// in config order as they come in. No match is `NO_MATCH`, exit 1, like
/// grep(1). A server that fails does not hide matches on the others, but
/// sets the exit code; failures are reported in config order after the
/// matches. A signal prints the matches found so far.
pub async fn grep(context: &Context, pattern: &str) -> Result<(), McpError> {
    let glob = Glob::new(pattern);
    let json = context.printer.json();
    let mut errors = Vec::new();
    let mut found = false;
    let mut matches = Vec::new();
    let mut printed = Ok(());
    let (interrupted, closing) = fetch_all(context, |entry, result| {
        let listing = match result {
            Ok(listing) => listing,
            Err(McpError::Interrupted { .. }) => return,
            Err(error) => return errors.push(error),
        };
        let mut text = String::new();
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
            found = true;
            if json {
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
        if !text.is_empty() && printed.is_ok() {
            printed = context.printer.out(&text);
        }
    })
    .await;
    if json {
        printed = context.printer.out_json(&json!(matches));
    }
    finish_closing(closing).await;
    printed?;
    if let Some(signal) = interrupted {
        return Err(signal);
    }
    // The top level prints the one returned, last.
    let last = errors.pop();
    for error in &errors {
        context.printer.error(error);
    }
    match (found, last) {
        (_, Some(error)) => Err(error),
        (true, None) => Ok(()),
        (false, None) => Err(McpError::NoMatch {
            pattern: pattern.to_owned(),
            servers: context.config.servers.len(),
        }),
    }
}
