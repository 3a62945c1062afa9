//! `mcp-cli` / `mcp-cli list`: every server with its tools.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use serde_json::{Value, json};

use tokio::task::JoinHandle;

use super::{Context, Listing, fetch};
use crate::error::McpError;

/// Lists every server, queried in parallel (up to `MCP_CONCURRENCY`) and
/// printed in config order. A server that fails is reported in place; the
/// exit code is then the class of the first failure.
pub async fn list(context: &Context) -> Result<(), McpError> {
    let mut signals = context.signals.clone();
    let (results, closing) = tokio::select! {
        biased;
        error = signals.interrupted() => return Err(error),
        results = fetch_all(context) => results,
    };
    let mut first_error: Option<McpError> = None;
    let mut text = String::new();
    let mut servers = Vec::new();
    for (entry, result) in context.config.servers.iter().zip(results) {
        match result {
            Ok(listing) => {
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
    finish_closing(closing).await;
    printed?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Fetches every server's listing, in config order. Each server is stopped
/// in the background as soon as its listing is in, so a config of fifty
/// servers never has more than `MCP_CONCURRENCY` of them starting at once
/// nor all of them alive at the end; the returned handles finish the stops.
pub(super) async fn fetch_all(
    context: &Context,
) -> (Vec<Result<Listing, McpError>>, Vec<JoinHandle<()>>) {
    let servers = &context.config.servers;
    // The servers being waited for, for the status line.
    let waiting: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let fetches = futures::stream::iter(servers)
        .map(|entry| {
            let (waiting, done) = (&waiting, &done);
            async move {
                waiting.lock().expect("waiting lock").push(&entry.name);
                let fetched = fetch(context, entry).await;
                waiting
                    .lock()
                    .expect("waiting lock")
                    .retain(|name| *name != entry.name);
                done.fetch_add(1, Ordering::SeqCst);
                match fetched {
                    Ok((session, listing)) => (Ok(listing), Some(tokio::spawn(session.close()))),
                    Err(error) => (Err(error), None),
                }
            }
        })
        .buffered(context.config.concurrency.max(1))
        .collect::<Vec<_>>();
    let status = || {
        let waiting = waiting.lock().expect("waiting lock");
        format!(
            "{} of {} servers done, waiting for {}",
            done.load(Ordering::SeqCst),
            servers.len(),
            waiting.join(", ")
        )
    };
    let results = super::with_status(&context.printer, status, fetches).await;
    let (listings, closing): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    (listings, closing.into_iter().flatten().collect())
}

/// Waits for the servers stopped in the background.
pub(super) async fn finish_closing(closing: Vec<JoinHandle<()>>) {
    for handle in closing {
        let _ = handle.await;
    }
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
