//! The command line, declared once.
//!
//! Every verb and flag is a row here, with its help and examples. The parser
//! ([`super::parse`]), `--help` and `help <verb>` ([`super::help`]),
//! did-you-mean, the shell completions ([`super::complete`]) and the
//! README's usage reference are all made from these tables, so a new verb
//! or flag is one row.

/// One flag.
#[derive(Debug)]
pub struct Flag {
    /// `-x`, if it has a short form.
    pub short: Option<char>,
    /// `--name`, without the dashes.
    pub long: &'static str,
    /// The value's name in help (`PATH`), if it takes one.
    pub value: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
    /// The verbs it applies to; empty: every verb, anywhere on the line.
    pub verbs: &'static [&'static str],
}

/// What a positional argument holds, for completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A configured server's name (or `server/tool`).
    Server,
    /// A tool's name.
    Tool,
    /// JSON arguments.
    Json,
    /// A glob.
    Glob,
    /// A shell's name.
    Shell,
    /// A verb's name.
    Verb,
    /// A file's path.
    File,
    /// What `daemon` does.
    DaemonAction,
}

/// What `mcp-cli daemon` does.
pub const DAEMON_ACTIONS: &[&str] = &["status", "stop"];

/// One positional argument of a verb.
#[derive(Debug)]
pub struct Positional {
    /// Its name in usage lines and in `MISSING_ARGUMENT`.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether the verb needs it.
    pub required: bool,
    /// Whether it takes the rest of the words (joined with spaces).
    pub rest: bool,
}

/// One verb.
#[derive(Debug)]
pub struct Verb {
    /// Its name.
    pub name: &'static str,
    /// Other names that run it.
    pub aliases: &'static [&'static str],
    /// Words people type for it that are not verbs (`run` for `call`): an
    /// unknown verb among them is answered with this verb.
    pub mistaken_for: &'static [&'static str],
    /// Its positional arguments, in order.
    pub args: &'static [Positional],
    /// One line, for the verb list.
    pub summary: &'static str,
    /// What `help <verb>` says after the usage line.
    pub about: &'static str,
    /// Command lines and what they do.
    pub examples: &'static [(&'static str, &'static str)],
}

const fn arg(name: &'static str, kind: Kind, required: bool) -> Positional {
    Positional {
        name,
        kind,
        required,
        rest: false,
    }
}

/// Every flag. Short and long names are unique across the table, so a flag
/// can be read before the verb is known.
pub const FLAGS: &[Flag] = &[
    Flag {
        short: Some('c'),
        long: "config",
        value: Some("PATH"),
        help: "config file (default: the first found of those `--help` lists)",
        verbs: &[],
    },
    Flag {
        short: Some('d'),
        long: "with-descriptions",
        value: None,
        help: "show tool descriptions, whole",
        verbs: &[],
    },
    Flag {
        short: None,
        long: "json",
        value: None,
        help: "results (stdout) and errors (stderr) as JSON",
        verbs: &[],
    },
    Flag {
        short: Some('H'),
        long: "header",
        value: Some("HEADER"),
        help: "'Name: value', a request header for a URL target (repeatable)",
        verbs: &[],
    },
    Flag {
        short: None,
        long: "stdio",
        value: Some("COMMAND"),
        help: "a server from a command line (split as a shell would), named `stdio`",
        verbs: &[],
    },
    Flag {
        short: None,
        long: "raw",
        value: None,
        help: "write the result's text as it is on a terminal too, control characters included",
        verbs: &["call"],
    },
    Flag {
        short: None,
        long: "status",
        value: None,
        help: "list the servers with kept OAuth tokens and their state (never a token)",
        verbs: &["auth"],
    },
    Flag {
        short: None,
        long: "logout",
        value: None,
        help: "forget the server's OAuth tokens",
        verbs: &["auth"],
    },
    Flag {
        short: None,
        long: "no-daemon",
        value: None,
        help: "connect to servers directly, not through the connection daemon",
        verbs: &[],
    },
    Flag {
        short: Some('h'),
        long: "help",
        value: None,
        help: "this help; `mcp-cli help <verb>` for a verb's",
        verbs: &[],
    },
    Flag {
        short: Some('v'),
        long: "version",
        value: None,
        help: "print the version",
        verbs: &[],
    },
];

/// Every verb, in the order help shows them.
pub const VERBS: &[Verb] = &[
    Verb {
        name: "list",
        aliases: &["ls"],
        mistaken_for: &["tools", "servers"],
        args: &[],
        summary: "list every server and its tools (the default)",
        about: "Servers are queried in parallel (MCP_CONCURRENCY) and printed in config order,
each as soon as it and those before it have answered; a signal prints those in.
A server that fails is shown in place, `name  (failed: reason)`, and the exit
code is then that failure's class. `-d` adds each tool's description, whole,
on the tool's line.",
        examples: &[
            ("mcp-cli", "every server and its tools"),
            ("mcp-cli -d", "... with descriptions"),
            (
                "mcp-cli --json",
                "every server with its tools' schemas, as JSON",
            ),
        ],
    },
    Verb {
        name: "info",
        aliases: &[],
        mistaken_for: &["get", "show", "describe", "inspect", "schema"],
        args: &[
            arg("server", Kind::Server, false),
            arg("tool", Kind::Tool, false),
        ],
        summary: "a server's details and tools, or one tool's schema",
        about: "`info <server>` (or just `mcp-cli <server>`) shows its transport, command or
URL (secrets redacted), version, protocol, instructions, and every tool with
its parameters (`-d`: with descriptions). `info <server> <tool>` (or
`<server>/<tool>`) shows the tool's description, input schema, and output
schema and annotations when the server declares them. `info` alone lists
every server, as `mcp-cli` does.",
        examples: &[
            (
                "mcp-cli info filesystem",
                "a server's tools and their parameters",
            ),
            ("mcp-cli info filesystem read_file", "one tool's schema"),
            ("mcp-cli info filesystem/read_file", "the same"),
            (
                "mcp-cli info https://mcp.deepwiki.com/mcp",
                "a remote server by its URL, no config needed",
            ),
        ],
    },
    Verb {
        name: "grep",
        aliases: &[],
        mistaken_for: &["search", "find", "query"],
        args: &[arg("pattern", Kind::Glob, true)],
        summary: "search tool names across servers",
        about: "The glob takes `*` (any run) and `?` (one character) and ignores case. It
matches tool names, or `server/tool` when it has a `/`. Prints one match per
line as `server/tool`, ready for `call` (`-d`: with the description). Exits 1
with NO_MATCH on stderr when nothing matches, like grep(1).",
        examples: &[
            ("mcp-cli grep '*file*'", "tools whose name has `file`"),
            ("mcp-cli grep 'github/*issue*'", "on one server"),
        ],
    },
    Verb {
        name: "call",
        aliases: &[],
        mistaken_for: &["run", "exec", "execute", "invoke", "tool"],
        args: &[
            arg("server", Kind::Server, true),
            arg("tool", Kind::Tool, true),
            Positional {
                name: "json",
                kind: Kind::Json,
                required: false,
                rest: true,
            },
        ],
        summary: "call a tool; JSON arguments from the argument or stdin",
        about: "`<server> <tool>` or `<server>/<tool>`; the server may be a URL (http:// or
https://, with `--header`s), used without a config. The arguments are one JSON
object, from the argument (words split by the shell are joined again), or else
from stdin when stdin is not a terminal: mcp-cli waits at most 1 s for the
first byte on stdin (so an open but silent pipe cannot hang it), then reads to
the end; if nothing came, the tool is called with no arguments. Pass `-` to
wait for stdin without that limit.

Prints the result's text, as it is when stdout is not a terminal (it is
data); on a terminal, control characters and escape sequences are shown
escaped unless `--raw`. Images and resources are summarised by type and
size. `--json` prints the whole CallToolResult. A result with isError goes to
stderr as TOOL_ERROR and exits 2. A call that may have reached the server is
never sent again unless the tool is annotated readOnlyHint or idempotentHint.",
        examples: &[
            (
                "mcp-cli call time get_current_time '{\"timezone\":\"UTC\"}'",
                "JSON arguments as an argument",
            ),
            (
                "echo '{\"path\":\"README.md\"}' | mcp-cli call filesystem/read_text_file",
                "from stdin",
            ),
            (
                "mcp-cli call https://host/mcp search '{\"q\":\"x\"}' -H \"Authorization: Bearer $TOKEN\"",
                "a remote server by URL, with a header",
            ),
            (
                "mcp-cli --stdio 'npx -y @modelcontextprotocol/server-everything' call stdio echo '{\"message\":\"hi\"}'",
                "a server from a command line, named `stdio`",
            ),
        ],
    },
    Verb {
        name: "trust",
        aliases: &[],
        mistaken_for: &["allow", "approve"],
        args: &[arg("path", Kind::File, false)],
        summary: "let a project's config file run its servers",
        about: "A config file names commands to run, so one found in the current folder
(`./mcp_servers.json`, say in a repository just cloned) is used only once you
trust it: until then every command stops with CONFIG_UNTRUSTED, naming what
it would run. `trust` records the file's path and the SHA-256 of its content
in your state directory (XDG_STATE_HOME, or ~/.local/state); when the file
changes, it must be trusted again. Its servers are added to those of your
own config (~/.mcp_servers.json or ~/.config/mcp/mcp_servers.json); one of
the same name is replaced, with a warning. A file named with -c or
MCP_CONFIG_PATH needs no trust: naming it is consent. Any config file that
someone else owns, or that others may write, is refused.",
        examples: &[
            (
                "mcp-cli trust",
                "trust ./mcp_servers.json, after reading it",
            ),
            ("mcp-cli trust tools/mcp_servers.json", "another file"),
        ],
    },
    Verb {
        name: "auth",
        aliases: &["login"],
        mistaken_for: &["oauth", "logout", "signin"],
        args: &[arg("server", Kind::Server, false)],
        summary: "log in to a remote server (OAuth), or show or forget its tokens",
        about: "Logs in to a server that asks for OAuth, so that every verb then just works:
mcp-cli finds the server's authorization server (from its 401 challenge or
the well-known paths), registers itself there unless the config names a
client (`oauth.clientId`, `oauth.clientMetadataUrl`), and opens the login
page in the browser ($BROWSER, else xdg-open or open). The browser comes back
to a listener on 127.0.0.1; on another machine (over SSH), paste here the
address it was sent to instead. The URL is always printed on stderr. With
`oauth.grant: \"client_credentials\"` (and `clientSecret` or `privateKey`)
no browser is involved: for agents and CI, and verbs then get tokens by
themselves.

Tokens are kept per server URL in your state directory
(XDG_STATE_HOME/mcp-cli/oauth, else ~/.local/state/mcp-cli/oauth), files
mode 0600 in a folder 0700 (wider ones are refused), and refreshed before
they expire, by one process at a time. A verb that meets a 401 without a
usable token fails with AUTH_REQUIRED (exit 4), naming this command; after
a 403 `insufficient_scope`, logging in again asks for the missing scope too.

  --status   each server with kept tokens: its state, scopes and expiry
  --logout   forget the server's tokens (the server may still hold them)",
        examples: &[
            (
                "mcp-cli auth linear",
                "log in to the configured server `linear`",
            ),
            (
                "mcp-cli auth https://mcp.example.com/mcp",
                "a server by URL",
            ),
            ("mcp-cli auth --status", "what is kept, never a token"),
            ("mcp-cli auth --logout linear", "forget its tokens"),
        ],
    },
    Verb {
        name: "daemon",
        aliases: &[],
        mistaken_for: &["pool", "server"],
        args: &[arg("action", Kind::DaemonAction, true)],
        summary: "show or stop the daemon that keeps servers warm",
        about: "The first command that needs a server starts a daemon in the background,
which keeps each server started and initialized for the next command:
a call then costs a socket round trip instead of a server start. A server
unused for MCP_DAEMON_TIMEOUT seconds (default 60) is stopped, and the
daemon exits once it holds none. A server is shared only by commands that
would start it identically: the same entry, environment and directory.
Output and errors are the same with and without it; MCP_NO_DAEMON=1 or
--no-daemon turns it off. Its socket is in $XDG_RUNTIME_DIR/mcp-cli (else
/tmp/mcp-cli-<uid>), its log in your state directory (daemon.log).

  status   the daemon's pid and uptime, and each server it holds: its state,
           idle time, requests served and last error (--json for JSON)
  stop     stop every server it holds (stdin closed, then SIGTERM, then
           SIGKILL) and the daemon",
        examples: &[
            ("mcp-cli daemon status", "what the daemon holds"),
            ("mcp-cli daemon stop", "stop it and its servers"),
            (
                "mcp-cli --no-daemon call fs read_file '{\"path\": \"a.txt\"}'",
                "one call without it (or MCP_NO_DAEMON=1)",
            ),
        ],
    },
    Verb {
        name: "completions",
        aliases: &[],
        mistaken_for: &["completion", "complete"],
        args: &[arg("shell", Kind::Shell, true)],
        summary: "print a completion script for bash, zsh or fish",
        about: "Completes verbs, flags and configured server names (read from the config
without starting any server).",
        examples: &[
            (
                "mcp-cli completions bash > ~/.local/share/bash-completion/completions/mcp-cli",
                "bash",
            ),
            ("mcp-cli completions zsh > \"${fpath[1]}/_mcp-cli\"", "zsh"),
            (
                "mcp-cli completions fish > ~/.config/fish/completions/mcp-cli.fish",
                "fish",
            ),
        ],
    },
    Verb {
        name: "help",
        aliases: &[],
        mistaken_for: &["usage", "man"],
        args: &[arg("verb", Kind::Verb, false)],
        summary: "this help, or one verb's",
        about: "`mcp-cli help <verb>` is `mcp-cli <verb> --help`.",
        examples: &[("mcp-cli help call", "how `call` reads its arguments")],
    },
];

/// The shells `completions` writes for.
pub const SHELLS: &[&str] = &["bash", "zsh", "fish"];

/// The verb named (or aliased) `word`.
pub fn verb(word: &str) -> Option<&'static Verb> {
    VERBS
        .iter()
        .find(|verb| verb.name == word || verb.aliases.contains(&word))
}

/// Every verb's name, in help order.
pub fn verb_names() -> Vec<&'static str> {
    VERBS.iter().map(|verb| verb.name).collect()
}

/// The verb a mistaken word stands for: a word people type for it (`run`,
/// `get`), or a typo of a verb, an alias or such a word (within two edits,
/// one for words of three letters or fewer).
pub fn did_you_mean(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    let candidates = || {
        VERBS.iter().flat_map(|verb| {
            std::iter::once(verb.name)
                .chain(verb.aliases.iter().copied())
                .chain(verb.mistaken_for.iter().copied())
                .map(move |candidate| (candidate, verb.name))
        })
    };
    if let Some((_, verb)) = candidates().find(|(candidate, _)| *candidate == lower) {
        return Some(verb);
    }
    let limit = if lower.chars().count() <= 3 { 1 } else { 2 };
    candidates()
        .map(|(candidate, verb)| (crate::commands::edit_distance(&lower, candidate), verb))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, verb)| verb)
}

impl Verb {
    /// The arguments as a usage line shows them: `<server> <tool> [<json>...]`.
    pub fn usage_args(&self) -> String {
        self.args
            .iter()
            .map(|arg| match (arg.required, arg.rest) {
                (true, _) => format!("<{}>", arg.name),
                (false, false) => format!("[<{}>]", arg.name),
                (false, true) => format!("[<{}>...]", arg.name),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole usage line: `mcp-cli [options] call <server> <tool> [<json>...]`.
    pub fn usage(&self) -> String {
        let args = self.usage_args();
        if args.is_empty() {
            format!("mcp-cli [options] {}", self.name)
        } else {
            format!("mcp-cli [options] {} {args}", self.name)
        }
    }

    /// The most words it takes, if it is bounded.
    pub fn max_args(&self) -> Option<usize> {
        if self.args.iter().any(|arg| arg.rest) {
            None
        } else {
            Some(self.args.len())
        }
    }

    /// The flags that apply to it.
    pub fn flags(&self) -> impl Iterator<Item = &'static Flag> {
        FLAGS
            .iter()
            .filter(|flag| flag.verbs.is_empty() || flag.verbs.contains(&self.name))
    }
}

impl Flag {
    /// `-c, --config <PATH>` or `    --json`.
    pub fn shown(&self) -> String {
        let short = match self.short {
            Some(short) => format!("-{short}, "),
            None => "    ".to_owned(),
        };
        let value = self.value.map(|v| format!(" <{v}>")).unwrap_or_default();
        format!("{short}--{}{value}", self.long)
    }

    /// `-c/--config` or `--json`, as errors name it.
    pub fn name(&self) -> String {
        match self.short {
            Some(short) => format!("-{short}/--{}", self.long),
            None => format!("--{}", self.long),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut words: Vec<&str> = VERBS
            .iter()
            .flat_map(|verb| {
                std::iter::once(verb.name)
                    .chain(verb.aliases.iter().copied())
                    .chain(verb.mistaken_for.iter().copied())
            })
            .collect();
        let count = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), count, "a word names two verbs");
        let mut longs: Vec<&str> = FLAGS.iter().map(|flag| flag.long).collect();
        longs.sort_unstable();
        longs.dedup();
        assert_eq!(longs.len(), FLAGS.len());
        let mut shorts: Vec<char> = FLAGS.iter().filter_map(|flag| flag.short).collect();
        let count = shorts.len();
        shorts.sort_unstable();
        shorts.dedup();
        assert_eq!(shorts.len(), count);
        for flag in FLAGS {
            for verb in flag.verbs {
                assert!(super::verb(verb).is_some(), "{} names {verb}", flag.long);
            }
        }
    }

    #[test]
    fn mistaken_words_and_typos_find_their_verb() {
        for (word, verb) in [
            ("run", "call"),
            ("get", "info"),
            ("Search", "grep"),
            ("cal", "call"),
            ("lst", "list"),
            ("gerp", "grep"),
            ("infoo", "info"),
            ("completion", "completions"),
        ] {
            assert_eq!(did_you_mean(word), Some(verb), "{word}");
        }
        assert_eq!(did_you_mean("filesystem"), None);
        assert_eq!(did_you_mean("xyz"), None);
    }

    #[test]
    fn usage_lines_come_from_the_arguments() {
        assert_eq!(
            verb("call").unwrap().usage(),
            "mcp-cli [options] call <server> <tool> [<json>...]"
        );
        assert_eq!(
            verb("info").unwrap().usage(),
            "mcp-cli [options] info [<server>] [<tool>]"
        );
        assert_eq!(verb("ls").unwrap().usage(), "mcp-cli [options] list");
    }
}
