//! `mcp-cli trust [<path>]`: let a project's config file run its servers.

use std::path::PathBuf;

use serde_json::json;

use crate::config::{self, trust};
use crate::error::McpError;
use crate::printer::{self, Printer};
use crate::settings::Settings;

/// Records the file as trusted, with the SHA-256 of what it holds now, and
/// shows what it may now run. A file that does not parse, or that others
/// could have written, is not trusted.
pub fn trust(path: Option<&str>, printer: &Printer) -> Result<(), McpError> {
    let path = PathBuf::from(path.unwrap_or(config::PROJECT_FILE));
    let settings = Settings::from_env()?;
    let deadline = std::time::Instant::now() + settings.timeout;
    let text = trust::read(&path, deadline)?;
    let config = config::from_text(&path, &text, &settings)?;
    let canonical = trust::key(&path).map_err(|source| McpError::ConfigRead {
        path: path.clone(),
        source,
    })?;
    let sha256 = trust::digest(text.as_bytes());
    trust::record(&canonical, &sha256)?;
    // The user's own servers it will stand in for: say so now.
    let own = config::user_paths()
        .into_iter()
        .find(|own| own.is_file() && trust::key(own).ok().as_ref() != Some(&canonical))
        .and_then(|own| {
            let text = trust::read(&own, deadline).ok()?;
            config::from_text(&own, &text, &settings).ok()
        });
    let replaced: Vec<&str> = config
        .servers
        .iter()
        .filter(|entry| {
            own.as_ref()
                .is_some_and(|own| own.servers.iter().any(|mine| mine.name == entry.name))
        })
        .map(|entry| entry.name.as_str())
        .collect();
    if printer.json() {
        return printer.out_json(&json!({
            "trusted": canonical,
            "sha256": sha256,
            "replaces": replaced,
            "servers": config.servers.iter().map(|entry| json!({
                "name": entry.name,
                "runs": entry.runs,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut text = format!(
        "Trusted {} (sha256 {})\n",
        printer::one_line(&canonical.display().to_string()),
        &sha256[..16]
    );
    if config.servers.is_empty() {
        text.push_str("It defines no server.\n");
    } else {
        text.push_str("Its servers may now run:\n");
        for entry in &config.servers {
            text.push_str(&format!(
                "  {}: {}\n",
                printer::one_line(&entry.name),
                printer::one_line(&entry.runs)
            ));
        }
    }
    for name in replaced {
        text.push_str(&format!(
            "It replaces your own server `{}` where it is used.\n",
            printer::one_line(name)
        ));
    }
    printer.out(&text)
}
