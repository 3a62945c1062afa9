//! A drop-in for philschmid/mcp-cli (issue 9): the same command line gives
//! the same error TYPE and message opening, in human and `--json` form, and
//! the same output where both print one.

use serde_json::{Value, json};

use crate::support::{Sandbox, assert_contains, real_servers};

/// Runs `args` in both forms and checks the TYPE, the exit code and the
/// message's opening; returns the human stderr.
#[track_caller]
fn expect(sandbox: &Sandbox, args: &[&str], kind: &str, message: &str) -> String {
    let run = sandbox.run(args);
    run.expect_error(1, kind);
    assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("Error [{kind}]: {message}")),
        "{args:?}: {first}"
    );
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(args);
    let run = sandbox.run(&json_args);
    assert_eq!(run.code, 1, "{json_args:?}: {run:#?}");
    assert!(run.stdout.is_empty(), "{json_args:?}: {run:#?}");
    let error: Value = serde_json::from_str(run.stderr.trim())
        .unwrap_or_else(|e| panic!("{json_args:?}: stderr is not one JSON object ({e}): {run:#?}"));
    assert_eq!(error["error"], kind, "{json_args:?}");
    assert_eq!(error["exitCode"], 1, "{json_args:?}");
    let text = error["message"].as_str().unwrap();
    assert!(text.starts_with(message), "{json_args:?}: {text}");
    sandbox.run(args).stderr
}

#[test]
fn usage_mistakes_have_their_types_and_words() {
    let sandbox = Sandbox::with_servers(json!({"filesystem": {"command": "/nonexistent/x"}}));
    let missing = "Missing required argument for";
    expect(
        &sandbox,
        &["call"],
        "MISSING_ARGUMENT",
        &format!("{missing} call: server and tool"),
    );
    let stderr = expect(
        &sandbox,
        &["call", "filesystem"],
        "MISSING_ARGUMENT",
        &format!("{missing} call: tool"),
    );
    assert_contains(&stderr, "mcp-cli info filesystem");
    expect(
        &sandbox,
        &["call", "filesystem/"],
        "MISSING_ARGUMENT",
        &format!("{missing} call: tool"),
    );
    expect(
        &sandbox,
        &["grep"],
        "MISSING_ARGUMENT",
        &format!("{missing} grep: pattern"),
    );
    expect(
        &sandbox,
        &["-c"],
        "MISSING_ARGUMENT",
        &format!("{missing} -c/--config: path"),
    );
    expect(
        &sandbox,
        &["--config"],
        "MISSING_ARGUMENT",
        &format!("{missing} -c/--config: path"),
    );
    for option in ["--server", "--args", "--call"] {
        let stderr = expect(
            &sandbox,
            &[option, "x"],
            "UNKNOWN_OPTION",
            &format!("Unknown option: {option}"),
        );
        assert!(!stderr.contains("`--help`?"), "{stderr}");
    }
    let stderr = expect(
        &sandbox,
        &["--call"],
        "UNKNOWN_OPTION",
        "Unknown option: --call",
    );
    assert_contains(&stderr, "`call` is a verb");
    let stderr = expect(
        &sandbox,
        &["-json"],
        "UNKNOWN_OPTION",
        "Unknown option: -json",
    );
    assert_contains(&stderr, "did you mean `--json`?");
    expect(
        &sandbox,
        &["grep", "a", "b"],
        "TOO_MANY_ARGUMENTS",
        "Too many arguments for grep",
    );
    let ambiguous = "Ambiguous command: did you mean to call a tool or view info?";
    for args in [
        &["someserver", "sometool"][..],
        &["server/tool", "{}"],
        &["server/tool"],
        &["filesystem", "read_file"],
        &["filesystem/read_file", "{\"path\": \"x\"}"],
    ] {
        let stderr = expect(&sandbox, args, "AMBIGUOUS_COMMAND", ambiguous);
        assert_contains(&stderr, "Use `mcp-cli call ");
        assert_contains(&stderr, "or `mcp-cli info ");
    }
    // A typo of a configured server is named, and the suggestion uses the right name.
    let stderr = expect(
        &sandbox,
        &["filesytem", "read_file"],
        "AMBIGUOUS_COMMAND",
        ambiguous,
    );
    assert_contains(&stderr, "did you mean `filesystem`?");
    assert_contains(&stderr, "`mcp-cli call filesystem read_file`");
    let stderr = expect(
        &sandbox,
        &["get", "filesystem"],
        "UNKNOWN_SUBCOMMAND",
        "Unknown subcommand: \"get\"",
    );
    assert_contains(&stderr, "Did you mean `mcp-cli info filesystem`?");
    let stderr = expect(
        &sandbox,
        &["run", "filesystem", "t"],
        "UNKNOWN_SUBCOMMAND",
        "Unknown subcommand: \"run\"",
    );
    assert_contains(&stderr, "`mcp-cli call filesystem t`");
    expect(
        &sandbox,
        &["-c", "/missing.json"],
        "CONFIG_NOT_FOUND",
        "Config file not found: /missing.json",
    );
    expect(
        &sandbox,
        &["info", "nope"],
        "SERVER_NOT_FOUND",
        "Server \"nope\" not found in config",
    );
    let stderr = expect(
        &sandbox,
        &["filesytem"],
        "SERVER_NOT_FOUND",
        "Server \"filesytem\" not found in config",
    );
    assert_contains(&stderr, "did you mean `filesystem`?");
    expect(
        &sandbox,
        &["call", "filesystem", "t", "{bad"],
        "INVALID_JSON_ARGUMENTS",
        "Invalid JSON in tool arguments",
    );
}

#[test]
fn a_server_alone_shows_its_info_and_unquoted_json_is_joined() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let info = sandbox.run(&["info", "demo"]).ok().to_owned();
    assert!(info.starts_with("Server: demo\n"), "{info}");
    assert_eq!(sandbox.run(&["demo"]).ok(), info);
    assert_eq!(sandbox.run(&["demo/"]).ok(), info);
    // As a shell splits `call demo echo {"text": "a  b"}` (quotes kept here).
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", "{\"text\":", "\"a  b\"}"])
            .ok(),
        "a  b\n"
    );
    assert_eq!(
        sandbox
            .run(&["call", "demo/echo", "{\"text\":", "\"c\"}"])
            .ok(),
        "c\n"
    );
    let version = sandbox.run(&["--version"]);
    assert_eq!(
        version.ok(),
        format!("mcp-cli v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let tool = sandbox.run(&["info", "demo", "echo"]).ok().to_owned();
    assert!(
        tool.starts_with("Tool: echo\nServer: demo\n\nDescription:\n  Returns the given text.\n\nInput Schema:\n{\n"),
        "{tool}"
    );
}

/// `-d` prints every description whole, on its tool's one line, in the
/// listing and in `grep` (real servers, whose descriptions run to several
/// sentences and lines).
#[test]
fn descriptions_are_whole_with_d() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": real_servers(sandbox.path())}));
    let listing = sandbox.run(&["--json"]).json();
    let listed = sandbox.run(&["-d"]).ok().to_owned();
    let grepped = sandbox.run(&["grep", "-d", "*"]).ok().to_owned();
    let mut long = 0;
    for server in listing["servers"].as_array().unwrap() {
        let name = server["name"].as_str().unwrap();
        for tool in server["tools"].as_array().unwrap() {
            let tool_name = tool["name"].as_str().unwrap();
            let Some(description) = tool["description"].as_str() else {
                continue;
            };
            let one_line = description.split_whitespace().collect::<Vec<_>>().join(" ");
            long += usize::from(one_line.chars().count() > 160);
            assert_contains(&listed, &format!("\n  • {tool_name} - {one_line}\n"));
            assert_contains(&grepped, &format!("{name}/{tool_name} - {one_line}\n"));
        }
    }
    assert!(long > 0, "no description over 160 characters was tested");
    // Each line of grep is one tool.
    let tools: usize = listing["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|server| server["tools"].as_array().unwrap().len())
        .sum();
    assert_eq!(grepped.lines().count(), tools);
}

/// What a review found: suggestions that did not work when pasted, and
/// edge cases of the command line.
#[test]
fn suggestions_work_when_pasted() {
    let sandbox = Sandbox::new();
    let server = sandbox.server(&[]);
    sandbox.write(
        "cfg.json",
        &json!({"mcpServers": {"-x": server, "a/b": server, "demo": server}}).to_string(),
    );
    let suggested = |args: &[&str]| -> Vec<String> {
        let run = sandbox.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        let suggestion = run
            .stderr
            .lines()
            .find_map(|line| line.strip_prefix("  Suggestion: "))
            .unwrap_or_else(|| panic!("{args:?}: no suggestion in {}", run.stderr))
            .to_owned();
        crate::snapshots::commands_in(&suggestion)
    };
    // A server named `-x`, a `/` in a name, JSON where the tool goes: each
    // suggestion names the config given with -c and runs as a command.
    let cases: [(&[&str], &str); 5] = [
        (
            &["-c", "cfg.json", "call", "--", "-x"],
            "mcp-cli -c cfg.json info -- -x",
        ),
        (
            &["-c", "cfg.json", "a/b/echo"],
            "mcp-cli -c cfg.json call a/b echo",
        ),
        (
            &["-c", "cfg.json", "a/b", "echo"],
            "mcp-cli -c cfg.json info a/b echo",
        ),
        (
            &["-c", "cfg.json", "demo", r#"{"text":"x"}"#],
            r#"mcp-cli -c cfg.json call demo <tool> '{"text":"x"}'"#,
        ),
        (&["-c", "cfg.json", "dmeo"], "mcp-cli -c cfg.json info demo"),
    ];
    for (args, expected) in cases {
        let commands = suggested(args);
        assert!(
            commands.iter().any(|c| c == expected),
            "{args:?}: {commands:?}"
        );
        for command in commands.iter().filter(|c| !c.contains('<')) {
            let words = crate::snapshots::shell_words(command);
            let run = sandbox.run(&words[1..].iter().map(String::as_str).collect::<Vec<_>>());
            // It reaches the server: whatever the tool says, the command
            // line, the config and the names are right.
            for kind in [
                "USAGE_ERROR",
                "MISSING_ARGUMENT",
                "UNKNOWN_OPTION",
                "TOO_MANY_ARGUMENTS",
                "UNKNOWN_SUBCOMMAND",
                "AMBIGUOUS_COMMAND",
                "CONFIG_NOT_FOUND",
                "SERVER_NOT_FOUND",
                "TOOL_NOT_FOUND",
            ] {
                assert!(
                    !run.stderr.contains(kind),
                    "`{command}` (from {args:?}): {run:#?}"
                );
            }
        }
    }
    // `--json` after `--` is a word, and the error is in human form.
    let run = sandbox.run(&["-c", "cfg.json", "grep", "--", "--json", "extra"]);
    run.expect_error(1, "TOO_MANY_ARGUMENTS");
    // `info s/t x`: two words, of one allowed in that form.
    let run = sandbox.run(&["-c", "cfg.json", "info", "demo/echo", "x"]);
    assert_contains(&run.stderr, "Received 2 arguments, maximum is 1");
    // `call /echo`: the server is missing.
    let run = sandbox.run(&["-c", "cfg.json", "call", "/echo"]);
    assert_contains(&run.stderr, "Missing required argument for call: server");
    // A value after -c that is a flag is a forgotten value.
    for args in [
        &["-c", "--json"][..],
        &["-c=", "cfg.json"],
        &["--config=", "cfg.json"],
    ] {
        let run = sandbox.run(args);
        assert_eq!(run.code, 1, "{args:?}");
        assert_contains(&run.stderr, "MISSING_ARGUMENT");
    }
    // A negative number in JSON split by the shell is a word, not a flag.
    let run = sandbox.run(&[
        "-c",
        "cfg.json",
        "call",
        "demo",
        "add",
        r#"{"a":"#,
        "-1,",
        r#""b":3}"#,
    ]);
    assert_eq!(run.ok(), "2\n");
    // An empty JSON argument (an unset shell variable) is not a call with none.
    let run = sandbox.run(&["-c", "cfg.json", "call", "demo", "write", ""]);
    run.expect_error(1, "INVALID_JSON_ARGUMENTS");
    assert!(
        !sandbox.log("calls.log").iter().any(|call| call == "write"),
        "{:?}",
        sandbox.log("calls.log")
    );
}
