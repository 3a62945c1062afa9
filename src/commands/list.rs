//! `mcp-cli` / `mcp-cli list`: every server with its tools.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use tokio::task::JoinHandle;

use super::{Context, Listing, fetch};
use crate::config::ServerEntry;
use crate::error::McpError;
use crate::printer;

/// Lists every server, queried in parallel (up to `MCP_CONCURRENCY`) and
/// printed in config order, each as soon as it and those before it are in.
/// A server that fails is reported in place; the exit code is then the class
/// of the first failure. A signal prints what is in, and the rest as
/// interrupted.
pub async fn list(context: &Context) -> Result<(), McpError> {
    let json = context.printer.json();
    let mut first_error: Option<McpError> = None;
    let mut servers = Vec::new();
    // A blank line between servers, as philschmid/mcp-cli prints them.
    let mut separator = "";
    let (outcome, closing) = fetch_all(context, |entry, result| {
        let text = match result {
            Ok(listing) if json => {
                servers.push(server_json(&entry.name, &listing));
                return Ok(());
            }
            Ok(listing) => server_text(&entry.name, &listing, context.with_descriptions),
            Err(error) if json => {
                servers.push(json!({"name": entry.name, "error": error.to_json()}));
                first_error.get_or_insert(error);
                return Ok(());
            }
            Err(error) => {
                let text = format!(
                    "{}  (failed: {})\n",
                    printer::one_line(&entry.name),
                    printer::one_line(&error.to_string())
                );
                first_error.get_or_insert(error);
                text
            }
        };
        let printed = context.printer.out(&format!("{separator}{text}"));
        separator = "\n";
        printed
    })
    .await;
    let printed = if json && !matches!(&outcome, Err(McpError::Output(_))) {
        context.printer.out_json(&json!({ "servers": servers }))
    } else {
        Ok(())
    };
    finish_closing(closing).await;
    outcome?;
    printed?;
    first_error.map_or(Ok(()), Err)
}

/// Fetches every server's listing, up to `MCP_CONCURRENCY` at once, and
/// hands each to `each` in config order, as soon as it and all before it
/// are in; an error from `each` (stdout closed, say) stops the fetching and
/// is returned. So does a signal, after what is in is handed on, and the
/// rest as the interruption. Each server is stopped in the
/// background as soon as its listing is in, so a config of fifty servers
/// never has more than `MCP_CONCURRENCY` of them starting at once nor all
/// of them alive at the end; the returned handles finish the stops.
pub(super) async fn fetch_all<'c>(
    context: &'c Context,
    mut each: impl FnMut(&'c ServerEntry, Result<Listing, McpError>) -> Result<(), McpError>,
) -> (Result<(), McpError>, Vec<JoinHandle<()>>) {
    let servers = &context.config.servers;
    // The servers being waited for, for the status line.
    let waiting: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Listing, McpError>>> =
        servers.iter().map(|_| None).collect();
    let mut next = 0;
    let mut closing = Vec::new();
    let mut fetches = futures::stream::iter(servers.iter().enumerate())
        .map(|(index, entry)| {
            let (waiting, done) = (&waiting, &done);
            async move {
                waiting.lock().expect("waiting lock").push(&entry.name);
                // Each server has its own bound, so that a few that hang
                // cannot hold every slot while the others wait to start.
                let bound = context.config.list_timeout;
                let fetched = match tokio::time::timeout(bound, fetch(context, entry)).await {
                    Ok(fetched) => fetched,
                    Err(_) => Err(McpError::Timeout {
                        server: entry.name.clone(),
                        method: "tools/list".to_owned(),
                        duration: bound,
                        stderr: Vec::new(),
                    }),
                };
                waiting
                    .lock()
                    .expect("waiting lock")
                    .retain(|name| *name != entry.name);
                done.fetch_add(1, Ordering::SeqCst);
                (index, fetched)
            }
        })
        .buffer_unordered(context.config.concurrency.max(1));
    let status = || {
        let waiting = waiting.lock().expect("waiting lock");
        format!(
            "{} of {} servers done, waiting for {}",
            done.load(Ordering::SeqCst),
            servers.len(),
            waiting.join(", ")
        )
    };
    let mut signals = context.signals.clone();
    let all_in = async {
        while let Some((index, fetched)) = fetches.next().await {
            results[index] = Some(match fetched {
                Ok((session, listing)) => {
                    closing.push(tokio::spawn(session.close()));
                    Ok(listing)
                }
                Err(error) => Err(error),
            });
            while let Some(result) = results.get_mut(next).and_then(Option::take) {
                each(&servers[next], result)?;
                next += 1;
            }
        }
        Ok(())
    };
    let outcome = tokio::select! {
        biased;
        error = signals.interrupted() => Err(error),
        () = stdout_gone() => Err(McpError::Output(std::io::ErrorKind::BrokenPipe.into())),
        outcome = super::with_status(&context.printer, status, all_in) => outcome,
    };
    // After a signal: what is in, and the rest as interrupted.
    if let Err(McpError::Interrupted { signal }) = outcome {
        for (entry, result) in servers.iter().zip(results).skip(next) {
            let result = result.unwrap_or(Err(McpError::Interrupted { signal }));
            if each(entry, result).is_err() {
                break;
            }
        }
    }
    (outcome, closing)
}

/// Resolves once stdout is a pipe whose reader has gone (`mcp-cli | head
/// -1` after its line), checked four times a second: a server that never
/// answers must not keep a listing nobody reads alive until the deadline.
async fn stdout_gone() {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut stdout = libc::pollfd {
            fd: 1,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout only checks it.
        if unsafe { libc::poll(&mut stdout, 1, 0) } == 1 && stdout.revents & libc::POLLERR != 0 {
            return;
        }
    }
}

/// Waits for the servers stopped in the background.
pub(super) async fn finish_closing(closing: Vec<JoinHandle<()>>) {
    for handle in closing {
        let _ = handle.await;
    }
}

fn server_text(name: &str, listing: &Listing, with_descriptions: bool) -> String {
    let mut text = format!("{}\n", printer::one_line(name));
    if let Some(instructions) = listing.info.instructions.as_deref() {
        let mut lines = instructions.trim().lines();
        let first = lines.next().unwrap_or("").trim();
        let cut: String = first.chars().take(100).collect();
        if !cut.is_empty() {
            let more = lines.next().is_some() || cut.len() < first.len();
            text.push_str(&format!(
                "  Instructions: {}{}\n",
                printer::one_line(&cut),
                if more { "..." } else { "" }
            ));
        }
    }
    for tool in &listing.tools {
        match tool.description().filter(|_| with_descriptions) {
            Some(description) => text.push_str(&format!(
                "  • {} - {}\n",
                printer::tool_name(&tool.name),
                one_line(description)
            )),
            None => text.push_str(&format!("  • {}\n", printer::tool_name(&tool.name))),
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

/// A description on one line, whole and sanitised: its lines joined with
/// spaces, so each line of a listing stays one tool.
pub(super) fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    printer::one_line(&joined).into_owned()
}
