//! `mcp-cli daemon status|stop`: the connection daemon, seen and stopped.

use std::time::Duration;

use crate::cli::DaemonAction;
use crate::client::daemon::{self, Place};
use crate::error::McpError;
use crate::printer::Printer;

/// How long `daemon` waits for the daemon: `stop` waits for its servers
/// to stop in the MCP order.
const WAIT: Duration = Duration::from_secs(10);

/// Shows or stops the daemon. No daemon running is not an error.
pub fn daemon(action: DaemonAction, printer: &Printer) -> Result<(), McpError> {
    let place = match Place::find() {
        Ok(place) => Some(place),
        Err(why) => {
            printer.warn(&format!("no daemon can run: {why}"));
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(McpError::Output)?;
    let within = |work| async move { tokio::time::timeout(WAIT, work).await.ok().flatten() };
    match action {
        DaemonAction::Status => {
            let status = match &place {
                Some(place) => runtime.block_on(within(Box::pin(daemon::status(place)))),
                None => None,
            };
            printer.out(&shown_status(status.as_ref(), printer.json()))
        }
        DaemonAction::Stop => {
            let stopped = match &place {
                Some(place) => runtime.block_on(async {
                    tokio::time::timeout(WAIT, daemon::stop(place))
                        .await
                        .ok()
                        .flatten()
                }),
                None => None,
            };
            let text = match (stopped, printer.json()) {
                (Some(servers), true) => {
                    format!(
                        "{}\n",
                        serde_json::json!({"stopped": true, "servers": servers})
                    )
                }
                (None, true) => format!("{}\n", serde_json::json!({"stopped": false})),
                (Some(servers), false) => format!(
                    "stopped the daemon and {servers} server{}\n",
                    if servers == 1 { "" } else { "s" }
                ),
                (None, false) => "no daemon was running\n".to_owned(),
            };
            printer.out(&text)
        }
    }
}

/// The status as text or JSON.
fn shown_status(status: Option<&daemon::Status>, json: bool) -> String {
    let Some(status) = status else {
        return if json {
            format!("{}\n", serde_json::json!({"running": false}))
        } else {
            "no daemon is running\n".to_owned()
        };
    };
    if json {
        let mut value = serde_json::to_value(status).unwrap_or_default();
        if let Some(fields) = value.as_object_mut() {
            fields.insert("running".to_owned(), serde_json::Value::Bool(true));
        }
        return format!("{value}\n");
    }
    let mut out = format!(
        "daemon pid {}, up {}, {} command{} connected\nsocket {}\n",
        status.pid,
        crate::error::format_duration(Duration::from_secs_f64(status.uptime_secs)),
        status.clients,
        if status.clients == 1 { "" } else { "s" },
        status.socket
    );
    if status.servers.is_empty() {
        out.push_str("no servers held\n");
        return out;
    }
    for server in &status.servers {
        out.push_str(&format!(
            "{}  {}  {}  idle {}  {} requests ({} calls)  {} attached{}\n",
            crate::printer::one_line(&server.server),
            server
                .pid
                .map_or_else(|| "remote".to_owned(), |pid| format!("pid {pid}")),
            server.state,
            crate::error::format_duration(Duration::from_secs_f64(server.idle_secs)),
            server.requests,
            server.calls,
            server.clients,
            server
                .last_error
                .as_ref()
                .map(|error| format!("  last error: {}", crate::printer::one_line(error)))
                .unwrap_or_default()
        ));
    }
    out
}
