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
    let text = trust::read(&path)?;
    let config = config::from_text(&path, &text, &Settings::from_env()?)?;
    let canonical = std::fs::canonicalize(&path).map_err(|source| McpError::ConfigRead {
        path: path.clone(),
        source,
    })?;
    let sha256 = trust::digest(text.as_bytes());
    trust::record(&canonical, &sha256)?;
    if printer.json() {
        return printer.out_json(&json!({
            "trusted": canonical,
            "sha256": sha256,
            "servers": config.servers.iter().map(|entry| json!({
                "name": entry.name,
                "runs": entry.shown,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut text = format!(
        "Trusted {} (sha256 {})\n",
        canonical.display(),
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
                printer::one_line(&entry.shown)
            ));
        }
    }
    printer.out(&text)
}
