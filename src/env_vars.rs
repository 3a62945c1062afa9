//! Every environment variable mcp-cli reads, declared once.
//!
//! Nothing else in the crate reads a variable by a literal name; `--help`
//! and the README's table are made from [`ALL`].

/// One documented environment variable.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// Its default, as shown in `--help`.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Path of the config file; wins over `-c/--config`.
pub const MCP_CONFIG_PATH: &str = "MCP_CONFIG_PATH";
/// Overall deadline of one command, in seconds.
pub const MCP_TIMEOUT: &str = "MCP_TIMEOUT";
/// Per-request timeout in seconds; restarts when the server reports progress.
pub const MCP_REQUEST_TIMEOUT: &str = "MCP_REQUEST_TIMEOUT";
/// Per-server bound of a listing (`list`, `grep`, `info` alone), in seconds.
pub const MCP_LIST_TIMEOUT: &str = "MCP_LIST_TIMEOUT";
/// How many servers are contacted at once.
pub const MCP_CONCURRENCY: &str = "MCP_CONCURRENCY";
/// Retries after the first attempt.
pub const MCP_MAX_RETRIES: &str = "MCP_MAX_RETRIES";
/// Base delay between retries, in milliseconds.
pub const MCP_RETRY_DELAY: &str = "MCP_RETRY_DELAY";
/// Debug output on stderr.
pub const MCP_DEBUG: &str = "MCP_DEBUG";
/// Whether an unset `${VAR}` is an error.
pub const MCP_STRICT_ENV: &str = "MCP_STRICT_ENV";
/// Turns the connection daemon off.
pub const MCP_NO_DAEMON: &str = "MCP_NO_DAEMON";
/// Seconds a pooled connection may stay idle in the daemon.
pub const MCP_DAEMON_TIMEOUT: &str = "MCP_DAEMON_TIMEOUT";
/// Test only: make retry delays zero.
pub const MCP_TEST_NO_RETRY_DELAY: &str = "MCP_TEST_NO_RETRY_DELAY";
/// Disables colour (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";

/// The variables a user sets, in the order `--help` shows them.
pub const ALL: &[EnvVar] = &[
    EnvVar {
        name: MCP_CONFIG_PATH,
        default: "",
        doc: "config file to use when -c/--config is not given",
    },
    EnvVar {
        name: MCP_TIMEOUT,
        default: "1800",
        doc: "overall deadline of a command in seconds, retries included",
    },
    EnvVar {
        name: MCP_REQUEST_TIMEOUT,
        default: "MCP_TIMEOUT",
        doc: "per-request timeout in seconds; restarts on progress",
    },
    EnvVar {
        name: MCP_LIST_TIMEOUT,
        default: "30",
        doc: "seconds one server may take in a listing (list, grep, info alone)",
    },
    EnvVar {
        name: MCP_CONCURRENCY,
        default: "5",
        doc: "servers contacted at once when listing",
    },
    EnvVar {
        name: MCP_MAX_RETRIES,
        default: "3",
        doc: "retries after the first attempt on transient errors (0: none)",
    },
    EnvVar {
        name: MCP_RETRY_DELAY,
        default: "1000",
        doc: "base retry delay in milliseconds, doubled each retry",
    },
    EnvVar {
        name: MCP_DEBUG,
        default: "false",
        doc: "log retries and stream server stderr to stderr",
    },
    EnvVar {
        name: MCP_STRICT_ENV,
        default: "true",
        doc: "an unset ${VAR} in the config is an error (false: empty + warning)",
    },
    EnvVar {
        name: MCP_NO_DAEMON,
        default: "false",
        doc: "connect to servers directly, without the connection daemon",
    },
    EnvVar {
        name: MCP_DAEMON_TIMEOUT,
        default: "60",
        doc: "seconds an unused server is kept warm by the daemon",
    },
    EnvVar {
        name: NO_COLOR,
        default: "",
        doc: "disable colour",
    },
];

/// The variables as the `--help` section "Environment variables".
pub fn help_section() -> String {
    let mut out = String::from("Environment variables:\n");
    for var in ALL {
        let default = if var.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", var.default)
        };
        out.push_str(&format!("  {:<20} {}{default}\n", var.name, var.doc));
    }
    out
}

/// Reads a variable, treating an empty value as unset.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The user's home directory: where the user's own configs are.
pub const HOME: &str = "HOME";
/// Where per-user state is kept (the trusted configs), after the XDG base
/// directory spec; `~/.local/state` when unset.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";

/// The browser `mcp-cli auth` opens the login page with (commands
/// separated by `:`, `%s` for the URL); else `xdg-open` or `open`.
pub const BROWSER: &str = "BROWSER";

/// Where per-user runtime files go (the daemon's socket), after the XDG
/// base directory spec.
pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
/// The temporary directory, when there is no `XDG_RUNTIME_DIR`.
pub const TMPDIR: &str = "TMPDIR";
