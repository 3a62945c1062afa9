//! `mcp-cli info [<server> [<tool>]]`: a server's details, or one tool's schema.

use serde_json::{Value, json};

use super::{Context, Listing, fetch, parameters, similar_names, split_target};
use crate::config::{Config, HttpKind, ServerConfig, ServerEntry};
use crate::error::McpError;
use crate::printer;

/// Shows every server (no target), one server, or one tool.
pub async fn info(
    context: &Context,
    target: Option<&str>,
    tool: Option<&str>,
) -> Result<(), McpError> {
    let Some(target) = target else {
        return super::list(context).await;
    };
    let (entry, tool) = resolve(&context.config, target, tool)?;
    let server = entry.name.as_str();
    let mut signals = context.signals.clone();
    let (session, listing) = tokio::select! {
        biased;
        error = signals.interrupted() => return Err(error),
        fetched = super::with_status(
            &context.printer,
            || format!("waiting for `{server}`"),
            Box::pin(fetch(context, entry)),
        ) => fetched?,
    };
    let printed = match tool {
        None if context.printer.json() => context.printer.out_json(&server_json(entry, &listing)),
        None => context
            .printer
            .out(&server_text(entry, &listing, context.with_descriptions)),
        Some(tool_name) => match listing.tools.iter().find(|tool| tool.name == tool_name) {
            Some(tool) if context.printer.json() => context.printer.out_json(&tool.raw),
            Some(tool) => context.printer.out(&tool_text(server, &tool.raw)),
            None => Err(McpError::ToolNotFound {
                server: server.to_owned(),
                tool: tool_name.to_owned(),
                similar: similar_names(tool_name, listing.tools.iter().map(|t| t.name.as_str())),
                total: listing.tools.len(),
            }),
        },
    };
    session.close().await;
    printed
}

/// Reads `info`'s words: `server [tool]` or `server/tool`, for a known
/// server whose filters allow the tool.
pub(super) fn resolve<'c, 't>(
    config: &'c Config,
    target: &'t str,
    tool: Option<&'t str>,
) -> Result<(&'c ServerEntry, Option<&'t str>), McpError> {
    let (server, split_tool) = split_target(config, target, None);
    let tool = match (split_tool, tool) {
        // `info s/t x`: the slash named the tool already.
        (Some(_), Some(_)) => {
            return Err(McpError::TooManyArguments {
                command: "info".to_owned(),
                received: 2,
                max: 1,
                usage: crate::cli::spec::verb("info")
                    .map(|verb| verb.usage())
                    .unwrap_or_default(),
            });
        }
        (split, given) => split.or(given),
    };
    let entry = config.server(server)?;
    if let Some(tool) = tool
        && !entry.filter.allows(tool)
    {
        return Err(McpError::ToolDisabled {
            server: server.to_owned(),
            tool: tool.to_owned(),
        });
    }
    Ok((entry, tool))
}

fn transport_lines(entry: &ServerEntry) -> Vec<(&'static str, String)> {
    let mut lines = match &entry.transport {
        ServerConfig::Stdio { env, cwd, .. } => {
            let mut lines = vec![
                ("Transport", "stdio".to_owned()),
                ("Command", entry.shown.clone()),
            ];
            if !env.is_empty() {
                let env: Vec<String> = env
                    .iter()
                    .map(|setting| format!("{}={}", setting.name, setting.display))
                    .collect();
                lines.push(("Environment", env.join(" ")));
            }
            if let Some(cwd) = cwd {
                lines.push(("Directory", cwd.display().to_string()));
            }
            lines
        }
        ServerConfig::Http { headers, kind, .. } => {
            let mut lines = vec![
                (
                    "Transport",
                    match kind {
                        HttpKind::LegacySse => "sse",
                        HttpKind::Auto | HttpKind::Streamable => "http",
                    }
                    .to_owned(),
                ),
                ("URL", entry.shown.clone()),
            ];
            if !headers.is_empty() {
                let headers: Vec<String> = headers
                    .iter()
                    .map(|setting| format!("{}: {}", setting.name, setting.display))
                    .collect();
                lines.push(("Headers", headers.join(", ")));
            }
            lines
        }
    };
    // Which file it comes from: the user's, or a project's.
    lines.push(("Config", entry.source.display().to_string()));
    lines
}

fn server_text(entry: &ServerEntry, listing: &Listing, with_descriptions: bool) -> String {
    let mut text = format!("Server: {}\n", printer::one_line(&entry.name));
    let mut lines = transport_lines(entry);
    let info = &listing.info;
    let identity = [info.name.as_deref(), info.version.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !identity.is_empty() {
        lines.push(("Version", printer::one_line(&identity).into_owned()));
    }
    lines.push((
        "Protocol",
        printer::one_line(&info.protocol_version).into_owned(),
    ));
    for (label, value) in lines {
        text.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(instructions) = info
        .instructions
        .as_deref()
        .filter(|i| !i.trim().is_empty())
    {
        text.push_str("\nInstructions:\n");
        for line in instructions.trim().lines() {
            text.push_str(&format!("  {}\n", printer::one_line(line)));
        }
    }
    text.push_str(&format!("\nTools ({}):\n", listing.tools.len()));
    for (index, tool) in listing.tools.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(&format!("  {}\n", printer::tool_name(&tool.name)));
        if let Some(description) = tool.description().filter(|_| with_descriptions) {
            for line in description.trim().lines() {
                text.push_str(&format!("    {}\n", printer::one_line(line)));
            }
        }
        let params = tool
            .raw
            .get("inputSchema")
            .map(parameters)
            .unwrap_or_default();
        if !params.is_empty() {
            text.push_str("    Parameters:\n");
            for param in params {
                let required = if param.required {
                    "required"
                } else {
                    "optional"
                };
                text.push_str(&format!(
                    "      • {} ({}, {required})",
                    printer::one_line(param.name),
                    printer::one_line(&param.kind)
                ));
                match param.description.filter(|_| with_descriptions) {
                    Some(description) => {
                        text.push_str(&format!(" - {}\n", super::list::one_line(description)))
                    }
                    None => text.push('\n'),
                }
            }
        }
    }
    if listing.hidden > 0 {
        text.push_str(&format!(
            "  ({} more hidden by allowedTools/disabledTools)\n",
            listing.hidden
        ));
    }
    text
}

fn server_json(entry: &ServerEntry, listing: &Listing) -> Value {
    let info = &listing.info;
    let mut transport = serde_json::Map::new();
    for (label, value) in transport_lines(entry) {
        transport.insert(label.to_lowercase(), json!(value));
    }
    json!({
        "name": entry.name,
        "transport": transport,
        "serverInfo": {"name": info.name, "version": info.version},
        "protocolVersion": info.protocol_version,
        "instructions": info.instructions,
        "tools": listing.tools.iter().map(|tool| tool.raw.clone()).collect::<Vec<_>>(),
        "hiddenTools": listing.hidden,
    })
}

fn tool_text(server: &str, tool: &Value) -> String {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
    let mut text = format!("Tool: {}\nServer: {server}\n", printer::tool_name(name));
    if let Some(title) = tool.get("title").and_then(Value::as_str) {
        text.push_str(&format!("Title: {}\n", printer::one_line(title)));
    }
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        text.push_str("\nDescription:\n");
        for line in description.trim().lines() {
            text.push_str(&format!("  {}\n", printer::one_line(line)));
        }
    }
    for (label, key) in [
        ("Input Schema", "inputSchema"),
        ("Output Schema", "outputSchema"),
        ("Annotations", "annotations"),
    ] {
        if let Some(value) = tool.get(key) {
            let pretty = printer::json_string(value, true);
            text.push_str(&format!("\n{label}:\n{pretty}\n"));
        }
    }
    text
}
