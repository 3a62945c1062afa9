//! The command line as clap sees it: flags, verbs and their help.
//!
//! Only declarations live here; `settings` and `commands` give them meaning.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// Discover, inspect and call the tools of MCP servers from a shell.
///
/// Servers come from `mcp_servers.json`, the format of Claude Desktop, Cursor and
/// VS Code. Data goes to stdout, diagnostics to stderr.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-cli",
    version,
    disable_version_flag = true,
    after_help = after_help(),
    args_conflicts_with_subcommands = false,
)]
pub struct Args {
    /// Config file [default: ./mcp_servers.json, ~/.mcp_servers.json, ~/.config/mcp/mcp_servers.json]
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Show tool descriptions
    #[arg(short = 'd', long = "with-descriptions", global = true)]
    pub with_descriptions: bool,

    /// Print results (stdout) and errors (stderr) as JSON
    #[arg(long, global = true)]
    pub json: bool,

    /// Print version
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// What to do; without one, every server is listed with its tools
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every server and its tools (the default)
    #[command(visible_alias = "ls")]
    List,

    /// Show a server's details and tools, or one tool's schema
    ///
    /// `info` alone lists every server; `info <server>` shows its transport,
    /// version, instructions and tools; `info <server> <tool>` (or
    /// `<server>/<tool>`) shows the tool's description and schemas.
    Info {
        /// Server name, or `server/tool`
        target: Option<String>,
        /// Tool name
        tool: Option<String>,
    },

    /// Search tool names across all servers with a glob (`*`, `?`; case-insensitive)
    ///
    /// Matches tool names, or `server/tool` when the glob has a `/`; prints
    /// `server/tool` per line.
    /// Exits 1 when nothing matches, like grep(1).
    Grep {
        /// The glob, for example `'*file*'` (quote it for your shell)
        pattern: String,
    },

    /// Call a tool with JSON arguments
    ///
    /// Arguments come from the JSON argument; without one they come from
    /// stdin when stdin is not a terminal. mcp-cli waits at most 1 s for the
    /// first byte on stdin (so an open but silent pipe cannot hang it), then
    /// reads to the end; if nothing came, the tool is called with `{}`.
    /// Pass `-` as the JSON argument to wait for stdin without that limit.
    ///
    /// Examples:
    ///   mcp-cli call time get_current_time '{"timezone":"UTC"}'
    ///   echo '{"path":"README.md"}' | mcp-cli call filesystem/read_file
    #[command(verbatim_doc_comment)]
    Call {
        /// Server name, or `server/tool`
        target: String,
        /// Tool name (unless given as `server/tool`), then the JSON arguments or `-`
        #[arg(allow_hyphen_values = true, num_args = 0..=2, value_name = "TOOL] [JSON")]
        rest: Vec<String>,
    },

    /// Anything else: reported as an unknown verb or an ambiguous command.
    #[command(external_subcommand)]
    External(Vec<String>),
}

fn after_help() -> String {
    format!(
        "{}\nExit codes:\n  0 success   1 usage, config or unknown name   2 server or tool error\n  3 connection, spawn or timeout   4 auth   130/143 interrupted\n\nExamples:\n  mcp-cli                          list servers and tools\n  mcp-cli info filesystem          a server's tools and their parameters\n  mcp-cli grep '*file*'            find tools\n  mcp-cli call time get_current_time '{{\"timezone\":\"UTC\"}}'\n",
        crate::env_vars::help_section()
    )
}
