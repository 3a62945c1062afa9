//! Snapshots (insta) of every help text and of every error mcp-cli can be
//! made to print, in human and `--json` form; and every command line that a
//! suggestion or a help example offers parses without a usage error.
//!
//! A snapshot that changes fails the test; review the `.snap.new` file and
//! rename it over the `.snap` (or run with `INSTA_UPDATE=always`).

use serde_json::{Value, json};

use crate::support::{Run, Sandbox, repo, test_server};

/// One case: a name, how to set up its sandbox, and its arguments.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    setup: fn(&mut Sandbox),
}

fn demo(sandbox: &mut Sandbox) {
    let mut narrow = sandbox.server(&[]);
    narrow["disabledTools"] = json!(["write"]);
    sandbox.write_config(&json!({"mcpServers": {
        "demo": sandbox.server(&[]),
        "narrow": narrow,
        "remote": {"url": "https://example.invalid/mcp"},
        "unset": {"command": "x", "args": ["${MCP_CLI_IT_UNSET_VAR}"]},
        "missing": {"command": "/nonexistent/server"},
        "crash": sandbox.server(&["--crash-on-call"]),
        "hang": sandbox.server(&["--hang-on-call"]),
        "mute": sandbox.server(&["--hang"]),
        "dies": sandbox.server(&["--exit-before-init", "--stderr-on-exit", "config file missing"]),
        "deaf": {"command": "sh", "args": ["-c", "exec 1>&-; sleep 30"]},
    }}));
    sandbox
        .env("MCP_MAX_RETRIES", "0")
        .env("MCP_TEST_NO_RETRY_DELAY", "1");
}

fn nothing(_: &mut Sandbox) {}

fn demo_with(sandbox: &mut Sandbox, name: &str, value: &str) {
    demo(sandbox);
    sandbox.env(name, value);
}

/// A case against the `demo` config.
const fn case(name: &'static str, args: &'static [&'static str]) -> Case {
    with(name, args, demo)
}

/// A case with its own setup.
const fn with(name: &'static str, args: &'static [&'static str], setup: fn(&mut Sandbox)) -> Case {
    Case { name, args, setup }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Help and version.
    with("help", &["--help"], nothing),
    with("help_list", &["help", "list"], nothing),
    with("help_info", &["help", "info"], nothing),
    with("help_grep", &["help", "grep"], nothing),
    with("help_call", &["call", "--help"], nothing),
    with("help_completions", &["help", "completions"], nothing),
    with("help_help", &["help", "help"], nothing),
    with("version", &["-v"], nothing),
    // The command line.
    case("usage_error", &["--json=1"]),
    case("missing_argument_call", &["call"]),
    case("missing_argument_tool", &["call", "demo"]),
    case("missing_argument_grep", &["grep"]),
    case("missing_argument_config", &["-c"]),
    case("too_many_arguments", &["grep", "a", "b"]),
    case("unknown_option_server", &["--server", "demo"]),
    case("unknown_option_args", &["--args", "{}"]),
    case("unknown_option_call", &["--call"]),
    case("unknown_option_typo", &["-json"]),
    case("unknown_option_other", &["-x"]),
    case("unknown_subcommand", &["run", "demo", "echo", "{\"text\": \"hi\"}"]),
    case("unknown_subcommand_typo", &["cal"]),
    case("unknown_subcommand_help", &["help", "grpe"]),
    case("unknown_shell", &["completions", "tcsh"]),
    case("ambiguous_command", &["demo", "echo"]),
    case("ambiguous_command_typo", &["dmeo/echo", "{\"text\":", "\"hi\"}"]),
    // The config.
    with("config_not_found", &[], nothing),
    case("config_not_found_explicit", &["-c", "missing.json"]),
    case("config_read_failed", &["-c", "."]),
    with("config_syntax", &[], |sandbox| {
        sandbox.write(".mcp_servers.json", "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",, }\n  }\n}\n");
    }),
    with("config_invalid", &[], |sandbox| {
        sandbox.write(".mcp_servers.json", "{\"mcpServers\": {\"a\": {\"args\": []}}}");
    }),
    with("config_untrusted", &["call", "demo", "echo", "{}"], |sandbox| {
        demo(sandbox);
        sandbox.write("mcp_servers.json", r#"{"mcpServers": {"repo": {"command": "npx", "args": ["-y", "x", "--token=abc"]}}}"#);
    }),
    with("config_insecure", &[], |sandbox| {
        demo(sandbox);
        let path = sandbox.path().join(".mcp_servers.json");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    }),
    with("state_write_failed", &["trust"], |sandbox| {
        sandbox.write("mcp_servers.json", r#"{"mcpServers": {}}"#);
        sandbox.env("XDG_STATE_HOME", "/dev/null/state");
    }),
    case("missing_env_var", &["call", "unset", "t", "{}"]),
    with("invalid_setting", &["info", "demo"], |sandbox| demo_with(sandbox, "MCP_TIMEOUT", "abc")),
    // Names.
    case("server_not_found", &["info", "nope"]),
    case("server_not_found_typo", &["dmeo"]),
    case("tool_not_found", &["call", "demo", "ehco", "{}"]),
    case("tool_disabled", &["call", "narrow", "write", "{}"]),
    case("invalid_json_arguments", &["call", "demo", "echo", "{\"text\": }"]),
    with("no_match", &["grep", "zzz*"], |sandbox| {
        sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    }),
    // The server's answers.
    case("tool_error", &["call", "demo", "fail", "{}"]),
    case("tool_execution_failed", &["call", "demo", "add", "{\"a\": 1}"]),
    case("spawn_failed", &["call", "missing", "t", "{}"]),
    case("protocol_error", &["call", "deaf", "echo", "{}"]),
    case("connection_closed", &["call", "crash", "write", "{}"]),
    with("max_retries_exceeded", &["info", "dies"], |sandbox| demo_with(sandbox, "MCP_MAX_RETRIES", "1")),
    with("timeout", &["call", "hang", "echo", "{\"text\": \"x\"}"], |sandbox| {
        demo_with(sandbox, "MCP_REQUEST_TIMEOUT", "1");
    }),
    with("operation_cancelled", &["info", "mute"], |sandbox| demo_with(sandbox, "MCP_TIMEOUT", "1")),
];

/// The run as a snapshot: exit code, stdout and stderr, with what changes
/// from run to run (the temp dir, the repository, durations) replaced.
fn shown(args: &[&str], run: &Run, sandbox: &Sandbox) -> String {
    let text = format!(
        "$ mcp-cli {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    let text = text
        .replace(&test_server().display().to_string(), "[TEST_SERVER]")
        .replace(&sandbox.path().display().to_string(), "[TEMP]")
        .replace(&repo().display().to_string(), "[REPO]");
    durations(&text)
}

/// Replaces durations (`12ms`, `1.5s`, `3m 20s`) with `[TIME]`.
fn durations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut index = 0;
    while index < chars.len() {
        let starts = chars[index].is_ascii_digit()
            && (index == 0 || !chars[index - 1].is_ascii_alphanumeric());
        if starts {
            let mut end = index;
            while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                end += 1;
            }
            let unit = ["ms", "s", "m"].into_iter().find(|unit| {
                let after = end + unit.len();
                chars[end..].starts_with(&unit.chars().collect::<Vec<_>>())
                    && chars.get(after).is_none_or(|c| !c.is_ascii_alphanumeric())
            });
            if let Some(unit) = unit {
                out.push_str("[TIME]");
                index = end + unit.len();
                continue;
            }
        }
        out.push(chars[index]);
        index += 1;
    }
    out.replace("[TIME] [TIME]", "[TIME]")
}

#[test]
fn help_and_errors_are_as_recorded() {
    let mut suggestions = Vec::new();
    for case in CASES {
        let mut sandbox = Sandbox::new();
        (case.setup)(&mut sandbox);
        let run = sandbox.run(case.args);
        insta::assert_snapshot!(case.name, shown(case.args, &run, &sandbox));
        suggestions.extend(
            run.stderr
                .lines()
                .filter_map(|line| line.strip_prefix("  Suggestion: "))
                .map(str::to_owned),
        );
        if case.name.starts_with("help") || case.name == "version" {
            continue;
        }
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(case.args);
        let run = sandbox.run(&json_args);
        insta::assert_snapshot!(
            format!("{}_json", case.name),
            shown(&json_args, &run, &sandbox)
        );
        let error: Value = serde_json::from_str(run.stderr.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: --json stderr is not one object ({e}): {run:#?}",
                case.name
            )
        });
        assert!(
            error["error"].is_string() && error["exitCode"].is_number(),
            "{}",
            case.name
        );
        if let Some(suggestion) = error["suggestion"].as_str() {
            suggestions.push(suggestion.to_owned());
        }
    }
    let commands: Vec<String> = suggestions.iter().flat_map(|s| commands_in(s)).collect();
    assert!(
        commands.len() > 20,
        "only {} commands in the suggestions",
        commands.len()
    );
    for command in commands {
        parses(&command);
    }
}

/// Every example of every verb's help parses.
#[test]
fn help_examples_parse() {
    for verb in mcp_cli::cli::spec::VERBS {
        for (example, _) in verb.examples {
            // `echo ... | mcp-cli ...`: the part after the pipe.
            let command = example.rsplit("| ").next().unwrap();
            parses(command);
        }
    }
}

/// The commands a suggestion offers: its backticked text that starts with
/// `mcp-cli `.
pub fn commands_in(suggestion: &str) -> Vec<String> {
    suggestion
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| quoted.starts_with("mcp-cli "))
        .map(str::to_owned)
        .collect()
}

/// `command` (`mcp-cli ...`, shell-quoted) goes through the parser as a
/// command: not a usage error, not words without a verb.
#[track_caller]
fn parses(command: &str) {
    let words = shell_words(command);
    assert_eq!(words[0], "mcp-cli", "{command}");
    let parsed = mcp_cli::cli::parse(words[1..].iter().map(std::ffi::OsString::from));
    match parsed {
        Ok(mcp_cli::cli::Parsed::Run(args)) => {
            if let Some(mcp_cli::cli::Command::Bare(words)) = &args.command {
                assert_eq!(words.len(), 1, "`{command}` has no verb");
            }
        }
        Ok(mcp_cli::cli::Parsed::Print(_)) => {}
        Err(error) => panic!("`{command}` does not parse: {}", error.render()),
    }
}

/// Splits a command as a POSIX shell would (quotes and backslashes), up to
/// the first redirection or pipe; `<name>` is a placeholder word.
pub fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            ' ' => words.extend(word.take()),
            // A placeholder (`<tool>`), which the reader fills in.
            '<' if word.is_none() => {
                let mut placeholder = String::from('<');
                for c in chars.by_ref() {
                    placeholder.push(c);
                    if c == '>' {
                        break;
                    }
                }
                words.push(placeholder);
            }
            '>' | '|' | ';' if word.is_none() => break,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn shell_words_split_as_a_shell_does() {
    assert_eq!(
        shell_words(r#"mcp-cli call 'a b' "c\"d" e\ f <tool> '{"x": 1}' > out"#),
        [
            "mcp-cli",
            "call",
            "a b",
            "c\"d",
            "e f",
            "<tool>",
            "{\"x\": 1}"
        ]
    );
    assert_eq!(shell_words("mcp-cli 'it'\\''s'"), ["mcp-cli", "it's"]);
    assert_eq!(
        durations("in 12ms, 1.5s and 3m 20s; 4 attempts"),
        "in [TIME], [TIME] and [TIME]; 4 attempts"
    );
}
