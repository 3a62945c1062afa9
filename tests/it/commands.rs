//! list, info, grep and call against the bundled server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Sandbox, assert_contains, test_server};

fn demo() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    sandbox
}

/// What the test server says of itself (`instructions`).
pub const INSTRUCTIONS: &str =
    "A test server for mcp-cli: echo, add, slow, fail, mixed, huge, write, idem, readonly.";

const DEMO_TOOLS: [&str; 9] = [
    "echo", "add", "slow", "fail", "mixed", "huge", "write", "idem", "readonly",
];

#[test]
fn list_follows_pagination_in_order() {
    let mut sandbox = demo();
    sandbox.env("MCP_TEST_PAGE_SIZE", "2");
    let stdout = sandbox.run(&[]).ok().to_owned();
    let listed: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  • "))
        .collect();
    assert_eq!(listed, DEMO_TOOLS);
    let run = sandbox.run(&["list", "-d"]);
    assert!(
        run.ok().contains("  • echo - Returns the given text."),
        "{}",
        run.stdout
    );
    let json = sandbox.run(&["--json"]).json();
    assert_eq!(json["servers"][0]["name"], "demo");
    assert_eq!(json["servers"][0]["tools"].as_array().unwrap().len(), 9);
}

#[test]
fn info_shows_server_and_tool() {
    let sandbox = demo();
    let stdout = sandbox.run(&["info", "demo"]).ok().to_owned();
    for needle in [
        "Transport: stdio",
        "mcp-test-server",
        "Protocol: ",
        "Instructions:",
        "Tools (9):",
        "Server: demo\nTransport: stdio\n",
        "      • a (number, required)\n      • b (number, required)\n",
        "      • seconds (number, required)\n      • progress (boolean, optional)\n",
    ] {
        assert!(stdout.contains(needle), "missing {needle}:\n{stdout}");
    }
    let stdout = sandbox.run(&["info", "demo/add"]).ok().to_owned();
    assert!(
        stdout.starts_with("Tool: add\nServer: demo\n\nDescription:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nInput Schema:\n{") && stdout.contains("\nOutput Schema:\n"));
    // Descriptions with -d, whole.
    let described = sandbox.run(&["info", "demo", "-d"]).ok().to_owned();
    assert_contains(&described, "  echo\n    Returns the given text.\n");
    assert_contains(
        &described,
        "      • text (string, required) - Text to echo\n",
    );
    assert!(!stdout.contains("Returns the given text."));
    assert!(stdout.contains("\"idempotentHint\": true"), "{stdout}");
    let same = sandbox.run(&["info", "demo", "add"]);
    assert_eq!(same.ok(), stdout);
    let tool = sandbox.run(&["--json", "info", "demo", "add"]).json();
    assert_eq!(tool["outputSchema"]["required"], json!(["sum"]));
    let run = sandbox.run(&["info", "demo", "ad"]);
    run.expect_error(1, "TOOL_NOT_FOUND");
    assert_contains(&run.stderr, "similar tools: add");
}

#[test]
fn info_redacts_secrets() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_CLI_IT_SECRET", "hunter2");
    let mut server = sandbox.server(&[]);
    server["env"] =
        json!({"API_TOKEN": "literal-secret", "MODE": "fast", "KEY2": "${MCP_CLI_IT_SECRET}"});
    server["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("--stderr-on-exit"));
    server["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("${MCP_CLI_IT_SECRET}"));
    sandbox.write_config(&json!({"mcpServers": {"demo": server}}));
    let run = sandbox.run(&["info", "demo"]);
    let stdout = run.ok();
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("literal-secret"),
        "{stdout}"
    );
    assert!(
        stdout.contains("API_TOKEN=***") && stdout.contains("MODE=fast"),
        "{stdout}"
    );
    assert!(stdout.contains("${MCP_CLI_IT_SECRET}"), "{stdout}");
}

#[test]
fn grep_matches_globs_case_insensitively() {
    let sandbox = demo();
    // Without a `/` the glob matches tool names only, not the server's.
    assert_eq!(
        sandbox.run(&["grep", "*E*"]).ok(),
        "demo/echo\ndemo/mixed\ndemo/huge\ndemo/write\ndemo/idem\ndemo/readonly\n"
    );
    assert_eq!(sandbox.run(&["grep", "demo/?dd"]).ok(), "demo/add\n");
    let run = sandbox.run(&["grep", "-d", "add"]);
    assert_eq!(run.ok(), "demo/add - Adds two numbers.\n");
    let run = sandbox.run(&["grep", "nothing*"]);
    run.expect_error(1, "NO_MATCH");
    assert!(run.stdout.is_empty());
    let json = sandbox.run(&["--json", "grep", "echo"]).json();
    assert_eq!(
        json,
        json!([{"server": "demo", "tool": "echo", "description": "Returns the given text."}])
    );
}

/// `grep --json` with several servers failing: the matches on stdout, and
/// one JSON object on stderr, the first failure's, with the others in it.
#[test]
fn grep_json_reports_every_failure_in_one_object() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "demo": sandbox.server(&[]),
        "gone": {"command": "/nonexistent/mcp-cli-it-server"},
        "dead": sandbox.server(&["--exit-before-init"]),
    }}));
    let run = sandbox.run(&["--json", "grep", "echo"]);
    assert_eq!(
        run.json(),
        json!([{"server": "demo", "tool": "echo", "description": "Returns the given text."}])
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one object on stderr: {}", run.stderr);
    let error: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(error["error"], "SERVER_SPAWN_FAILED", "{error}");
    assert_eq!(error["exitCode"], run.code);
    let others = error["others"].as_array().expect("others");
    assert_eq!(others.len(), 1, "{error}");
    assert_eq!(others[0]["error"], "MAX_RETRIES_EXCEEDED", "{error}");
    assert_contains(
        others[0]["message"].as_str().unwrap(),
        "server `dead` closed",
    );
}

#[test]
fn filters_apply_to_every_command() {
    let sandbox = Sandbox::new();
    let mut server = sandbox.server(&[]);
    server["allowedTools"] = json!(["*E*", "add"]);
    server["disabledTools"] = json!(["WRITE", "id?m"]);
    sandbox.write_config(&json!({"mcpServers": {"demo": server}}));
    let listed = sandbox.run(&[]).ok().to_owned();
    assert_eq!(
        listed,
        format!(
            "demo\n  Instructions: {INSTRUCTIONS}\n  • echo\n  • add\n  • mixed\n  • huge\n  • readonly\n"
        )
    );
    assert_eq!(
        sandbox.run(&["grep", "*"]).ok(),
        "demo/echo\ndemo/add\ndemo/mixed\ndemo/huge\ndemo/readonly\n"
    );
    sandbox
        .run(&["call", "demo", "write", "{}"])
        .expect_error(1, "TOOL_DISABLED");
    sandbox
        .run(&["call", "demo", "slow", "{}"])
        .expect_error(1, "TOOL_DISABLED");
    sandbox
        .run(&["info", "demo", "idem"])
        .expect_error(1, "TOOL_DISABLED");
    assert!(
        sandbox
            .run(&["info", "demo"])
            .ok()
            .contains("4 more hidden")
    );
    assert!(sandbox.log("calls.log").is_empty(), "a disabled tool ran");
}

#[test]
fn call_prints_text_and_json() {
    let sandbox = demo();
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", r#"{"text":"hi there"}"#])
            .ok(),
        "hi there\n"
    );
    assert_eq!(
        sandbox.run(&["call", "demo/add", r#"{"a":2,"b":3}"#]).ok(),
        "5\n"
    );
    let result = sandbox
        .run(&["--json", "call", "demo", "add", r#"{"a":2,"b":3}"#])
        .json();
    assert_eq!(result["structuredContent"], json!({"sum": 5}));
    assert_eq!(result["content"][0]["text"], "5");
    let mixed = sandbox.run(&["call", "demo", "mixed"]).ok().to_owned();
    assert_eq!(
        mixed,
        "mixed content follows\n[image: image/png, 70 bytes]\n[resource: test://hello.txt, text/plain, 21 bytes]\n"
    );
}

#[test]
fn call_errors_have_their_classes() {
    let sandbox = demo();
    let run = sandbox.run(&["call", "demo", "fail"]);
    run.expect_error(2, "TOOL_ERROR");
    assert!(run.stderr.contains("something went wrong") && run.stdout.is_empty());
    let run = sandbox.run(&["--json", "call", "demo", "fail"]);
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!((error["error"].as_str(), run.code), (Some("TOOL_ERROR"), 2));
    // The result itself is data: on stdout, whole.
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["isError"], true);
    assert_contains(
        result["content"][0]["text"].as_str().unwrap(),
        "something went wrong",
    );
    sandbox
        .run(&["call", "demo", "add", r#"{"a":1}"#])
        .expect_error(2, "TOOL_EXECUTION_FAILED");
    let run = sandbox.run(&["call", "demo", "echo", r#"{"text": "x",}"#]);
    run.expect_error(1, "INVALID_JSON_ARGUMENTS");
    assert_contains(&run.stderr, "line 1, column");
    sandbox
        .run(&["call", "demo", "echo", "[1]"])
        .expect_error(1, "INVALID_JSON_ARGUMENTS");
    let run = sandbox.run(&["call", "demo", "ehco", "{}"]);
    run.expect_error(1, "TOOL_NOT_FOUND");
    assert!(
        run.stderr.contains("echo") && run.stderr.contains("of 9 tools"),
        "{}",
        run.stderr
    );
    sandbox
        .run(&["call", "demo"])
        .expect_error(1, "MISSING_ARGUMENT");
    assert!(sandbox.log("calls.log").iter().all(|call| call != "echo"));
}

#[test]
fn call_reads_arguments_from_stdin() {
    let sandbox = demo();
    let run = sandbox.run_with_stdin(&["call", "demo", "echo"], r#"{"text":"piped"}"#);
    assert_eq!(run.ok(), "piped\n");
    let run = sandbox.run_with_stdin(&["call", "demo/echo", "-"], "{\"text\":\n\"dash\"}\n");
    assert_eq!(run.ok(), "dash\n");
    let run = sandbox.run_with_stdin(&["call", "demo", "echo"], "{oops");
    run.expect_error(1, "INVALID_JSON_ARGUMENTS");
    assert!(run.stderr.contains("stdin"));
    // A byte-order mark is skipped; bytes that are not UTF-8 are bad JSON.
    let run = sandbox.run_with_stdin(&["call", "demo", "echo"], "\u{feff}{\"text\":\"bom\"}");
    assert_eq!(run.ok(), "bom\n");
    let run = sandbox.run_with_stdin(&["call", "demo", "echo"], b"{\"text\":\"\xff\"}");
    run.expect_error(1, "INVALID_JSON_ARGUMENTS");
    assert_contains(&run.stderr, "not UTF-8 (an invalid byte at offset 9)");
    // An argument wins over stdin, which is then not read.
    let run = sandbox.run_with_stdin(&["call", "demo", "echo", r#"{"text":"arg"}"#], "garbage");
    assert_eq!(run.ok(), "arg\n");
}

#[test]
fn silent_open_stdin_does_not_hang() {
    let sandbox = demo();
    // `sleep 60 | mcp-cli call ...`: stdin open, nothing written.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = sleeper.stdout.take().unwrap();
    let child = sandbox
        .command(&["call", "demo", "readonly"])
        .stdin(pipe)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = crate::support::finish(child);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(run.ok(), "read\n");
    run.expect_elapsed(..Duration::from_secs(3));
}

/// Arguments that come on stdin after mcp-cli stopped waiting for them are
/// reported, not dropped without a word: the tool was called with none.
#[test]
fn stdin_that_comes_after_the_wait_is_reported() {
    use std::io::{BufRead, Write};
    let mut sandbox = Sandbox::new();
    // The call goes out after the late bytes came.
    sandbox
        .write_config(&json!({"mcpServers": {"demo": sandbox.server(&["--slow-start", "3000"])}}));
    sandbox.env("MCP_DEBUG", "1");
    // The test keeps a reader of the pipe too: what mcp-cli did not take is
    // left there for whoever reads next.
    let (reader, mut stdin) = std::io::pipe().unwrap();
    let mut left = reader.try_clone().unwrap();
    let mut child = sandbox
        .command(&["call", "demo", "readonly"])
        .stdin(reader)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    // Written once mcp-cli says it gave up on stdin.
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
        if line.contains("no arguments on stdin within") {
            break;
        }
    }
    stdin.write_all(b"{\"text\": \"late\"}").unwrap();
    drop(stdin);
    let rest = std::io::read_to_string(stderr).unwrap();
    let status = child.wait().unwrap();
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert!(status.success(), "{seen}{rest}");
    assert_eq!(stdout, "read\n");
    assert_contains(
        &rest,
        "input came on stdin after mcp-cli stopped waiting for it (1s): `demo/readonly` was called with no arguments",
    );
    // Seen, not read.
    assert_eq!(
        std::io::read_to_string(&mut left).unwrap(),
        "{\"text\": \"late\"}"
    );
}

#[test]
fn stdin_that_starts_but_never_ends_is_named_at_the_deadline() {
    let mut sandbox = demo();
    sandbox.env("MCP_TIMEOUT", "1");
    let mut child = sandbox
        .command(&["call", "demo", "echo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Half an object, and the pipe left open.
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"{").unwrap();
    let run = crate::support::finish(child);
    drop(stdin);
    run.expect_error(3, "OPERATION_CANCELLED");
    assert_contains(&run.stderr, "was running: reading the arguments from stdin");
    assert_contains(&run.stderr, "stdin never ended");
}

#[test]
fn large_output_is_complete_through_a_pipe_and_head_exits_quietly() {
    let sandbox = demo();
    // Past rmcp's own 16 MiB line limit, which mcp-cli lifts.
    let bytes = 20 * 1024 * 1024 + 17;
    let run = sandbox.run(&["call", "demo", "huge", &format!(r#"{{"bytes": {bytes}}}"#)]);
    // The text plus the newline mcp-cli ends it with, if it lacked one.
    let out = run.ok();
    assert!(
        out.len() == bytes || out.len() == bytes + 1,
        "got {} bytes",
        out.len()
    );
    assert!(out.starts_with("abcdefghijklmnopqrstuvwxyz\nabc"));

    let script = format!(
        "'{}' call demo huge '{{\"bytes\": {bytes}}}' | head -c 10; echo \" status=${{PIPESTATUS[0]}}\"",
        crate::support::mcp_cli().display()
    );
    let shell = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(sandbox.path())
        .envs(sandbox.daemon_env())
        .env("HOME", sandbox.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shell.stdout);
    let stderr = String::from_utf8_lossy(&shell.stderr);
    assert_eq!(stdout, "abcdefghij status=0\n", "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn debug_streams_server_stderr_with_its_name() {
    let mut sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"mcpServers": {"noisy": sandbox.server(&["--noisy-stderr", "2"])}}));
    let quiet = sandbox.run(&["call", "noisy", "readonly"]);
    assert_eq!(quiet.ok(), "read\n");
    assert!(!quiet.stderr.contains("noise"), "{}", quiet.stderr);
    sandbox.env("MCP_DEBUG", "1");
    let run = sandbox.run(&["call", "noisy", "readonly"]);
    assert_eq!(run.ok(), "read\n");
    assert_contains(&run.stderr, "[noisy] mcp-test-server: noise line 1");
}

#[test]
fn garbage_on_stdout_is_skipped_and_shown() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "g": sandbox.server(&["--garbage"]),
        "only": sandbox.server(&["--garbage-only"]),
    }}));
    let echo = ["call", "g", "echo", r#"{"text":"fine"}"#];
    assert_eq!(sandbox.run(&echo).ok(), "fine\n");
    // A server that logs to stdout: the lines are named when it fails, and
    // shown live under MCP_DEBUG.
    sandbox
        .env("MCP_REQUEST_TIMEOUT", "1")
        .env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["call", "only", "echo", "{}"]);
    run.expect_error(3, "TIMEOUT");
    let note = "(stdout, not JSON-RPC) this is not json";
    assert_contains(&run.stderr, note);
    sandbox.env("MCP_DEBUG", "1");
    let run = sandbox.run(&echo);
    assert_eq!(run.ok(), "fine\n");
    assert_contains(&run.stderr, &format!("[g] {note}"));
}

#[test]
fn a_relative_command_resolves_against_the_working_directory() {
    let sandbox = Sandbox::new();
    std::fs::copy(test_server(), sandbox.path().join("server-copy")).unwrap();
    sandbox.write_config(&json!({"mcpServers": {"rel": {"command": "./server-copy"}}}));
    assert_eq!(sandbox.run(&["call", "rel", "readonly"]).ok(), "read\n");
}

#[test]
fn server_names_may_contain_a_slash() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"org/demo": sandbox.server(&[])}}));
    let echo = r#"{"text":"slash"}"#;
    assert_eq!(
        sandbox.run(&["call", "org/demo", "echo", echo]).ok(),
        "slash\n"
    );
    assert_eq!(
        sandbox.run(&["call", "org/demo/echo", echo]).ok(),
        "slash\n"
    );
    assert!(
        sandbox
            .run(&["info", "org/demo"])
            .ok()
            .contains("Tools (9):")
    );
    assert!(
        sandbox
            .run(&["info", "org/demo/add"])
            .ok()
            .contains("Input Schema:")
    );
}

#[test]
fn closed_standard_streams_are_harmless() {
    let sandbox = demo();
    let cli = crate::support::mcp_cli().display().to_string();
    let shell = |script: &str| {
        let started = std::time::Instant::now();
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(script.replace("CLI", &format!("'{cli}'")))
            .current_dir(sandbox.path())
            .envs(sandbox.daemon_env())
            .env("HOME", sandbox.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout, started.elapsed())
    };
    // stdin closed: no pipe of mcp-cli's may become fd 0 and be waited on (or
    // read) as the arguments; Rust's runtime reopens closed 0-2 on /dev/null.
    let (code, stdout, elapsed) = shell("CLI call demo readonly <&-");
    assert_eq!((code, stdout.as_str()), (Some(0), "read\n"));
    assert!(elapsed < Duration::from_millis(800), "took {elapsed:?}");
    // stderr closed: the error is lost, the exit code is not.
    let (code, stdout, _) = shell("CLI call demo fail 2>&-");
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
}
