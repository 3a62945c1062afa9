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
/// sets the exit code (the first failure's class); failures are reported
/// after the matches (under `--json`, as one object on stderr, as `list`
/// does). A signal prints the matches found so far.
pub async fn grep(context: &Context, pattern: &str) -> Result<(), McpError> {
    let glob = Glob::new(pattern);
    let json = context.printer.json();
    let mut errors = Vec::new();
    let mut found = false;
    let mut matches = Vec::new();
    let (outcome, closing) = fetch_all(context, |entry, result| {
        let listing = match result {
            Ok(listing) => listing,
            Err(McpError::Interrupted { .. }) => return Ok(()),
            Err(error) => {
                errors.push(error);
                return Ok(());
            }
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
            let shown = crate::printer::tool_name(&path);
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
                        text.push_str(&format!("{shown} - {}\n", one_line(description)))
                    }
                    None => text.push_str(&format!("{shown}\n")),
                }
            }
        }
        if text.is_empty() {
            Ok(())
        } else {
            context.printer.out(&text)
        }
    })
    .await;
    let printed = if json && !matches!(&outcome, Err(McpError::Output(_))) {
        context.printer.out_json(&json!(matches))
    } else {
        Ok(())
    };
    finish_closing(closing).await;
    let interrupted = match outcome {
        Err(error @ McpError::Interrupted { .. }) => Some(error),
        other => {
            other?;
            None
        }
    };
    printed?;
    // The one returned is printed last, by the caller: the interruption, or
    // else the first failure, whose class is the exit code. Under `--json`
    // it is one object on stderr, the others in it.
    let mut errors = errors.into_iter();
    let mut last = interrupted.or_else(|| errors.next());
    if json {
        let others: Vec<McpError> = errors.collect();
        if !others.is_empty() {
            last = last.map(|first| McpError::Several(Box::new(first), others));
        }
    } else {
        for error in errors {
            context.printer.error(&error);
        }
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
