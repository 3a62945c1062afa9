//! Retries, the overall deadline, cancellation and the call safety rule,
//! proven with the test server's own run counter.

use std::time::Duration;

use serde_json::json;

use crate::support::{Sandbox, assert_contains, wait_for};

fn spawn_times(sandbox: &Sandbox, dir: &str) -> Vec<u64> {
    std::fs::read_to_string(sandbox.path().join(dir).join("events.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("spawn "))
        .map(|ms| ms.parse().unwrap())
        .collect()
}

#[test]
fn transient_connect_failures_are_retried_with_growing_delays() {
    let mut sandbox = Sandbox::new();
    let state = sandbox.path().join("flaky");
    sandbox.write_config(&json!({"mcpServers": {"flaky": {
        "command": crate::support::test_server(),
        "args": ["--state", state, "--fail-spawns", "3"]}}}));
    sandbox
        .env("MCP_RETRY_DELAY", "200")
        .env("MCP_MAX_RETRIES", "3");
    let run = sandbox.run(&["call", "flaky", "echo", r#"{"text":"up"}"#]);
    assert_eq!(run.ok(), "up\n");
    let times = spawn_times(&sandbox, "flaky");
    assert_eq!(times.len(), 4, "{times:?}");
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Nominal 200, 400, 800 ms with ±25% jitter, plus spawn time.
    for (gap, nominal) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(*gap >= nominal * 3 / 4, "gaps {gaps:?}");
        assert!(*gap <= nominal * 5 / 4 + 150, "gaps {gaps:?}");
    }
    assert!(gaps[0] < gaps[1] && gaps[1] < gaps[2], "gaps {gaps:?}");
}

#[test]
fn exhausted_retries_say_how_many_attempts_and_keep_the_cause() {
    let mut sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"mcpServers": {"down": sandbox.server(&["--fail-spawns", "100"])}}));
    sandbox
        .env("MCP_MAX_RETRIES", "2")
        .env("MCP_TEST_NO_RETRY_DELAY", "1");
    let run = sandbox.run(&["call", "down", "echo", "{}"]);
    run.expect_error(3, "MAX_RETRIES_EXCEEDED");
    assert_contains(&run.stderr, "failed after 3 attempts in");
    assert_contains(&run.stderr, "still starting");
    assert_eq!(spawn_times(&sandbox, "state").len(), 3);
    // Listing retries the same way.
    let run = sandbox.run(&[]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(spawn_times(&sandbox, "state").len(), 6);
}

#[test]
fn zero_retries_make_exactly_one_attempt() {
    let mut sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"mcpServers": {"down": sandbox.server(&["--fail-spawns", "100"])}}));
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["call", "down", "echo", "{}"]);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_eq!(spawn_times(&sandbox, "state").len(), 1);
}

#[test]
fn a_call_that_reached_a_side_effecting_tool_runs_once() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"crashy": sandbox.server(&["--crash-on-call"])}}));
    sandbox
        .env("MCP_MAX_RETRIES", "3")
        .env("MCP_TEST_NO_RETRY_DELAY", "1");
    let run = sandbox.run(&["call", "crashy", "write", r#"{"text":"once"}"#]);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_contains(&run.stderr, "not retried");
    assert_eq!(sandbox.log("calls.log"), ["write"]);
    // The second server only told, through its listing, that `write` has
    // no hint making a second run harmless.
    assert_eq!(spawn_times(&sandbox, "state").len(), 2);
}

#[test]
fn no_server_is_started_for_annotations_when_no_retry_could_follow() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"crashy": sandbox.server(&["--crash-on-call"])}}));
    // The shortest backoff (1.5 s) would end past the 1.5 s deadline, so
    // asking a second server is pointless.
    sandbox
        .env("MCP_TIMEOUT", "1.5")
        .env("MCP_RETRY_DELAY", "2000");
    let run = sandbox.run(&["call", "crashy", "write", "{}"]);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_eq!(spawn_times(&sandbox, "state").len(), 1);
    // With time for a retry, a second server is asked (and says no).
    sandbox
        .env("MCP_TIMEOUT", "10")
        .env("MCP_RETRY_DELAY", "50");
    let run = sandbox.run(&["call", "crashy", "write", "{}"]);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_eq!(spawn_times(&sandbox, "state").len(), 3);
    assert_eq!(sandbox.log("calls.log"), ["write", "write"]);
}

#[test]
fn an_idempotent_or_read_only_tool_is_retried_after_the_same_fault() {
    for tool in ["idem", "readonly"] {
        let mut sandbox = Sandbox::new();
        sandbox
            .write_config(&json!({"mcpServers": {"crashy": sandbox.server(&["--crash-on-call"])}}));
        sandbox
            .env("MCP_MAX_RETRIES", "2")
            .env("MCP_TEST_NO_RETRY_DELAY", "1");
        let run = sandbox.run(&["call", "crashy", tool, "{}"]);
        run.expect_error(3, "MAX_RETRIES_EXCEEDED");
        assert_eq!(sandbox.log("calls.log"), [tool, tool, tool]);
        // The server that gave the annotations ran the first retry.
        assert_eq!(spawn_times(&sandbox, "state").len(), 3);
    }
}

#[test]
fn the_deadline_cancels_a_hanging_call() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"stuck": sandbox.server(&["--hang-on-call"])}}));
    sandbox.env("MCP_TIMEOUT", "2");
    let run = sandbox.run(&["call", "stuck", "write", "{}"]);
    run.expect_error(3, "OPERATION_CANCELLED");
    run.expect_elapsed(Duration::from_secs(2)..Duration::from_millis(2500));
    assert_contains(&run.stderr, "was running: tools/call `stuck/write`");
    assert_eq!(sandbox.log("calls.log"), ["write"]);
    let events = sandbox.log("events.log");
    assert!(
        events.iter().any(|e| e.starts_with("cancelled")),
        "{events:?}"
    );
}

#[test]
fn the_deadline_bounds_a_server_that_never_initializes() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "mute": sandbox.server(&["--hang"]),
        "garbled": sandbox.server(&["--garbage-only"]),
    }}));
    sandbox.env("MCP_TIMEOUT", "1");
    for server in ["mute", "garbled"] {
        let run = sandbox.run(&["call", server, "echo", "{}"]);
        run.expect_error(3, "OPERATION_CANCELLED");
        run.expect_elapsed(..Duration::from_millis(1500));
        // Stuck connecting, not in the call.
        assert_contains(
            &run.stderr,
            &format!("was running: connecting to `{server}`"),
        );
    }
}

#[test]
fn a_server_that_answers_garbage_then_nothing_is_reported_without_waiting_for_the_deadline() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"garbled": sandbox.server(&["--garbage-only"])}}));
    // Default settings: a 30-minute deadline, no per-request timeout.
    let run = sandbox.run(&["call", "garbled", "echo", "{}"]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert_contains(&run.stderr, "(stdout, not JSON-RPC) this is not json");
    run.expect_elapsed(Duration::from_secs(30)..Duration::from_secs(33));
    // Not retried: the server would answer the same.
    assert_eq!(spawn_times(&sandbox, "state").len(), 1);
}

#[test]
fn a_deadline_shorter_than_the_next_backoff_stops_retrying() {
    let mut sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"mcpServers": {"down": sandbox.server(&["--fail-spawns", "100"])}}));
    sandbox
        .env("MCP_TIMEOUT", "2.2")
        .env("MCP_RETRY_DELAY", "1000")
        .env("MCP_MAX_RETRIES", "5");
    let run = sandbox.run(&["call", "down", "echo", "{}"]);
    // Attempts at 0 and after 0.75-1.25 s; the next delay (1.5-2.5 s) would
    // end past the 2.2 s deadline, so mcp-cli stops at once with the cause.
    run.expect_error(3, "MAX_RETRIES_EXCEEDED");
    run.expect_elapsed(..Duration::from_millis(1800));
    assert_eq!(spawn_times(&sandbox, "state").len(), 2);
}

#[test]
fn progress_restarts_the_request_timeout() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    sandbox.env("MCP_REQUEST_TIMEOUT", "1");
    let run = sandbox.run(&["call", "demo", "slow", r#"{"seconds": 2}"#]);
    assert_eq!(run.ok(), "slept 2 s\n");
    // No progress on a TTY-less stderr.
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let run = sandbox.run(&[
        "call",
        "demo",
        "slow",
        r#"{"seconds": 2, "progress": false}"#,
    ]);
    run.expect_error(3, "TIMEOUT");
    assert!(
        run.stderr.contains("tools/call") && run.stderr.contains("1s"),
        "{}",
        run.stderr
    );
    // Through the daemon, the cancellation reaches the server after the
    // command has exited: waited for (a hang guard, not a bound).
    assert!(
        wait_for(Duration::from_secs(10), || {
            sandbox
                .log("events.log")
                .iter()
                .any(|e| e.starts_with("cancelled"))
        }),
        "{:?}",
        sandbox.log("events.log")
    );
}

#[test]
fn a_message_past_the_size_limit_fails_the_call_once_and_at_once() {
    // A line that never ends: mcp-cli stops reading at 256 MiB and says so.
    // The tool ran; even an idempotent one is not run again, since its
    // answer would be as large the next time.
    let mut sandbox = Sandbox::new();
    sandbox.write_config(
        &json!({"mcpServers": {"endless": sandbox.server(&["--endless-line-on-call"])}}),
    );
    sandbox
        .env("MCP_MAX_RETRIES", "3")
        .env("MCP_TEST_NO_RETRY_DELAY", "1");
    let run = sandbox.run(&["call", "endless", "idem", "{}"]);
    run.expect_error(2, "MESSAGE_TOO_LARGE")
        .expect_elapsed(..Duration::from_secs(30));
    assert_contains(&run.stderr, "too large to read during `tools/call`");
    assert_contains(&run.stderr, "mcp-cli reads messages of up to 256 MiB");
    assert_contains(&run.stderr, "ask it for less");
    assert_eq!(sandbox.log("calls.log"), ["idem"]);
}

#[test]
fn a_call_that_times_out_is_not_retried_even_when_repeatable() {
    // A tool slower than MCP_REQUEST_TIMEOUT would be as slow again: a
    // read-only one too runs once, and the error says which timeout to raise.
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"slow": sandbox.server(&["--hang-on-call"])}}));
    sandbox
        .env("MCP_REQUEST_TIMEOUT", "1")
        .env("MCP_MAX_RETRIES", "3")
        .env("MCP_TEST_NO_RETRY_DELAY", "1");
    let run = sandbox.run(&["call", "slow", "readonly"]);
    run.expect_error(3, "TIMEOUT")
        .expect_elapsed(..Duration::from_secs(5));
    assert_contains(&run.stderr, "raise MCP_REQUEST_TIMEOUT");
    assert_eq!(sandbox.log("calls.log"), ["readonly"]);
    assert_eq!(spawn_times(&sandbox, "state").len(), 1);
}

#[test]
fn a_call_that_succeeds_sends_no_other_request() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", r#"{"text":"x"}"#])
            .ok(),
        "x\n"
    );
    let requests: Vec<String> = sandbox
        .log("events.log")
        .into_iter()
        .filter(|line| line.starts_with("request "))
        .collect();
    assert_eq!(requests, ["request initialize", "request tools/call"]);
}

#[test]
fn a_call_does_not_wait_for_a_listing_that_never_comes() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"nolist": sandbox.server(&["--hang-on-list"])}}));
    sandbox.env("MCP_TIMEOUT", "10");
    let run = sandbox.run(&["call", "nolist", "write", r#"{"text":"x"}"#]);
    assert_eq!(run.ok(), "written\n");
    run.expect_elapsed(..Duration::from_secs(2));
    // A failing call waits for the listing a bounded time, then reports.
    let run = sandbox.run(&["call", "nolist", "fail"]);
    run.expect_error(2, "TOOL_ERROR");
    run.expect_elapsed(..Duration::from_secs(4));
    assert_eq!(sandbox.log("calls.log"), ["write", "fail"]);
}

#[test]
fn a_program_that_cannot_run_or_closes_its_stdout_fails_at_once() {
    let sandbox = Sandbox::new();
    sandbox.write("not-a-program", "plain text\n");
    std::fs::set_permissions(
        sandbox.path().join("not-a-program"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    sandbox.write_config(&json!({"mcpServers": {
        "text": {"command": "./not-a-program"},
        "deaf": {"command": "sh", "args": ["-c", "exec 1>&-; sleep 30"]},
    }}));
    // ENOEXEC: as permanent as a missing program.
    let run = sandbox.run(&["call", "text", "echo", "{}"]);
    run.expect_error(3, "SERVER_SPAWN_FAILED");
    assert_contains(&run.stderr, "Exec format error");
    assert_contains(&run.stderr, "nor a script with a `#!` line");
    run.expect_elapsed(..Duration::from_millis(500));
    let run = sandbox.run(&["call", "deaf", "echo", "{}"]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert_contains(&run.stderr, "closed its stdout without answering");
    run.expect_elapsed(..Duration::from_millis(1500));
}

#[test]
fn a_server_that_cannot_start_is_told_by_its_cause() {
    // "No such file" and "Permission denied" cover several mistakes in a
    // config; each is named, with its own fix, and none is retried.
    let mut sandbox = Sandbox::new();
    sandbox.write("no-exec-bit", "#!/bin/sh\n");
    sandbox.write("bad-interpreter", "#!/nonexistent/interpreter\n");
    // On PATH, found by its bare name.
    sandbox.write("crlf-server", "#!/bin/sh\r\necho hi\r\n");
    // A binary whose dynamic loader (its PT_INTERP path) is not there, as a
    // build for another libc.
    let mut binary = std::fs::read(crate::support::test_server()).unwrap();
    let at = binary
        .windows(8)
        .position(|window| window == b"ld-linux")
        .expect("the test server names its loader");
    binary[at] = b'X';
    std::fs::write(sandbox.path().join("foreign"), binary).unwrap();
    for name in ["bad-interpreter", "crlf-server", "foreign"] {
        std::fs::set_permissions(
            sandbox.path().join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        sandbox.path().display(),
        std::env::var("PATH").unwrap()
    );
    sandbox.env("PATH", &path);
    let server = crate::support::test_server();
    sandbox.write_config(&json!({"mcpServers": {
        "no-cwd": {"command": server, "cwd": "/nonexistent/dir"},
        "no-exec-bit": {"command": "./no-exec-bit"},
        "a-directory": {"command": "/"},
        "bad-interpreter": {"command": "./bad-interpreter"},
        "crlf": {"command": "crlf-server"},
        "foreign": {"command": "./foreign"},
        "missing": {"command": "./missing/server"},
    }}));
    for (server, cause, fix) in [
        (
            "no-cwd",
            "the working directory `/nonexistent/dir` does not exist",
            "fix `cwd`",
        ),
        (
            "no-exec-bit",
            "`./no-exec-bit` is not executable (by this user, or on this file system)",
            "run `chmod +x ./no-exec-bit`",
        ),
        (
            "crlf",
            "`crlf-server` has Windows line endings",
            "convert `crlf-server` to Unix line endings",
        ),
        (
            "foreign",
            "`./foreign` was built for another system",
            "install a build of the server for this system",
        ),
        (
            "a-directory",
            "`/` is a directory",
            "point `command` at the server's program",
        ),
        (
            "bad-interpreter",
            "its interpreter `/nonexistent/interpreter` (from its `#!` line) is not installed",
            "install `/nonexistent/interpreter`",
        ),
        (
            "missing",
            "`./missing/server` does not exist",
            "fix `command`",
        ),
    ] {
        let run = sandbox.run(&["info", server]);
        run.expect_error(3, "SERVER_SPAWN_FAILED")
            .expect_elapsed(..Duration::from_millis(500));
        assert_contains(&run.stderr, &format!("Details: {cause}"));
        assert_contains(&run.stderr, &format!("Suggestion: {fix}"));
    }
}

/// A listing ends: an empty page ends it whatever cursor it gives, and one
/// that runs past 1,000 pages is a protocol error, not a loop.
#[test]
fn a_listing_that_never_ends_is_stopped() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"empty": sandbox.server(&["--empty-pages"])}}));
    let run = sandbox.run(&[]);
    assert_eq!(
        run.ok(),
        "empty\n  Instructions: A test server for mcp-cli: echo, add, slow, fail, mixed, huge, write, idem, readonly.\n  (no tools)\n"
    );
    assert_eq!(
        sandbox
            .log("events.log")
            .iter()
            .filter(|e| *e == "list")
            .count(),
        1
    );
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"endless": sandbox.server(&["--endless-pages"])}}));
    let run = sandbox.run(&["info", "endless"]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert!(run.stderr.contains("past 1000 pages"), "{}", run.stderr);
    let asked = sandbox
        .log("events.log")
        .iter()
        .filter(|e| *e == "list")
        .count();
    assert_eq!(asked, 1001, "asked for {asked} pages");
}

/// One odd tool does not hide a server's others: a tool without
/// `inputSchema` is listed with a warning, one without a name left out.
#[test]
fn an_odd_tool_hides_no_other() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"odd": sandbox.server(&["--odd-tools"])}}));
    let run = sandbox.run(&["grep", "*"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout.lines().count(), 10, "{}", run.stdout);
    assert!(run.stdout.contains("odd/noschema\n"), "{}", run.stdout);
    assert!(
        run.stderr.contains("tool `noschema` has no inputSchema"),
        "{}",
        run.stderr
    );
    let info = sandbox.run(&["info", "odd", "noschema"]).ok().to_owned();
    assert!(info.starts_with("Tool: noschema\n"), "{info}");
    assert_eq!(
        sandbox
            .run(&["call", "odd", "echo", r#"{"text": "x"}"#])
            .ok(),
        "x\n"
    );
}

/// Servers that hang cannot hold every listing slot: each has its own bound
/// (MCP_LIST_TIMEOUT), after which it is shown as failed and the servers
/// after it are started.
#[test]
fn hung_servers_do_not_hold_a_listing() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "hung1": sandbox.server(&["--hang"]),
        "hung2": sandbox.server(&["--hang"]),
        "hung3": sandbox.server(&["--hang-on-list"]),
        "healthy": sandbox.server(&[]),
    }}));
    sandbox
        .env("MCP_CONCURRENCY", "2")
        .env("MCP_LIST_TIMEOUT", "1")
        .env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&[]);
    assert_eq!(run.code, 3, "{run:#?}");
    run.expect_elapsed(..Duration::from_secs(10));
    assert_contains(&run.stdout, "\nhealthy\n  Instructions:");
    for hung in ["hung1", "hung2", "hung3"] {
        assert_contains(
            &run.stdout,
            &format!(
                "{hung}  (failed: timed out awaiting `tools/list` from server `{hung}` after 1s)"
            ),
        );
    }
    assert_contains(&run.stderr, "MCP_LIST_TIMEOUT");
}

/// `MCP_TIMEOUT` bounds the stopping too: past the deadline a server that
/// ignores SIGTERM and its stdin closing still reads the cancellation, then
/// gets SIGTERM and SIGKILL 100 ms apart, instead of the full 1 s grace.
#[test]
fn the_deadline_bounds_stopping_a_stubborn_server() {
    let mut sandbox = Sandbox::direct();
    let server = crate::support::test_server().display().to_string();
    let state = sandbox.state().display().to_string();
    sandbox.write_config(&json!({"mcpServers": {"stubborn": {
        "command": "sh",
        "args": ["-c", "trap '' TERM; exec \"$0\" --state \"$1\" --hang-on-call --ignore-stdin-eof", server, state],
    }}}));
    sandbox.env("MCP_TIMEOUT", "1");
    let run = sandbox.run(&["call", "stubborn", "echo", r#"{"text": "x"}"#]);
    run.expect_error(3, "OPERATION_CANCELLED");
    // A hang guard: about 1.35 s now, 2.35 s when the graces ran on.
    run.expect_elapsed(..Duration::from_millis(2100));
    // The order of stopping held: the server read the cancellation first.
    let events = sandbox.log("events.log");
    assert!(
        events.iter().any(|e| e.starts_with("cancelled")),
        "{events:?}"
    );
    assert!(
        crate::support::wait_for(Duration::from_secs(2), || crate::support::pids_matching(
            &state
        )
        .is_empty()),
        "the server outlived the command"
    );
}

/// A server that answers `initialize` with a protocol version mcp-cli does
/// not speak is a protocol error, said at once; a known older one is fine.
#[test]
fn an_unknown_protocol_version_is_refused() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "future": sandbox.server(&["--protocol-version", "2099-01-01"]),
        "older": sandbox.server(&["--protocol-version", "2024-11-05"]),
    }}));
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["call", "future", "echo", r#"{"text": "x"}"#]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert_contains(
        &run.stderr,
        "protocol version `2099-01-01`, which mcp-cli does not speak",
    );
    assert!(
        sandbox.log("calls.log").is_empty(),
        "{:?}",
        sandbox.log("calls.log")
    );
    assert_eq!(
        sandbox
            .run(&["call", "older", "echo", r#"{"text": "x"}"#])
            .ok(),
        "x\n"
    );
}

/// One unexpected part does not lose a whole result: a content block of an
/// unknown type is shown by its type (whole under `--json`); an `isError`
/// that is not a boolean is a protocol error that says so.
#[test]
fn an_odd_result_is_read_leniently() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"odd": sandbox.server(&["--odd-results"])}}));
    let run = sandbox.run(&["call", "odd", "echo", r#"{"text": "x"}"#]);
    assert_eq!(
        run.ok(),
        "x\n[content of type `hologram`, which mcp-cli does not show; --json has it whole]\n"
    );
    let result = sandbox
        .run(&["--json", "call", "odd", "echo", r#"{"text": "x"}"#])
        .json();
    assert_eq!(
        result["content"][1],
        json!({"type": "hologram", "frames": 3})
    );
    let run = sandbox.run(&["call", "odd", "fail", "{}"]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert_contains(
        &run.stderr,
        "`isError` must be true or false, found \"yes\"",
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Under --json, what arrived is printed all the same; the error is
    // the one object on stderr.
    let run = sandbox.run(&["--json", "call", "odd", "fail", "{}"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(run.json()["isError"], "yes");
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(error["error"], "PROTOCOL_ERROR");
}

/// An answer that does not parse fails its call at once, naming the
/// parser's error, instead of leaving it to wait for the deadline (30
/// minutes by default); a lone UTF-16 surrogate is read as U+FFFD, a batch
/// is read message by message, and an error without `message` or with a
/// null id is the error it means.
#[test]
fn an_answer_that_does_not_parse_fails_its_call_at_once() {
    for (kind, code, outcome) in [
        ("nan", 2, "PROTOCOL_ERROR"),
        ("badutf8", 2, "PROTOCOL_ERROR"),
        ("pretty", 2, "PROTOCOL_ERROR"),
        ("nomessage", 2, "TOOL_EXECUTION_FAILED"),
        ("nullid", 2, "TOOL_EXECUTION_FAILED"),
        ("surrogate", 0, "cut \u{fffd}\n"),
        ("batch", 0, "ok\n"),
        // JSON, only past a double's range: kept exact, as it came.
        ("bigexp", 0, "ok\n"),
        // Nested past serde_json's 128 levels, in a field kept as text.
        ("deep", 0, "ok\n"),
        // Lines before a good answer that must not spoil it.
        ("nanlog", 0, "x\n"),
        ("jsonlog", 0, "x\n"),
        ("forgenan", 0, "x\n"),
        ("nested", 0, "x\n"),
        // A good answer in an odd dress.
        ("bom", 0, "fine\n"),
        ("strid", 0, "fine\n"),
    ] {
        let sandbox = Sandbox::new();
        sandbox
            .write_config(&json!({"mcpServers": {"bad": sandbox.server(&["--bad-answer", kind])}}));
        let run = sandbox.run(&["call", "bad", "echo", r#"{"text": "x"}"#]);
        // A hang guard: the deadline is the default 30 minutes.
        run.expect_elapsed(..Duration::from_secs(10));
        if code == 0 {
            assert_eq!(run.ok(), outcome, "{kind}");
        } else {
            run.expect_error(code, outcome);
        }
        if outcome == "PROTOCOL_ERROR" {
            assert_contains(&run.stderr, "the server's answer cannot be read: ");
            assert_contains(&run.stderr, " at line 1 column ");
        }
        // Not sent again: the tool ran once.
        assert_eq!(sandbox.log("calls.log"), ["echo"], "{kind}");
    }
}

/// A server that dies mid-call while a process it started still holds its
/// stdout (Python's Popen passes it on): no end of file comes, but its exit
/// ends the wait, as CONNECTION_CLOSED, within a moment, not the deadline.
#[test]
fn a_server_that_dies_while_a_child_holds_its_stdout_is_noticed() {
    let sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"mcpServers": {"dies": sandbox.server(&["--exit-leaving-stdout"])}}));
    let run = sandbox.run(&["call", "dies", "write", "{}"]);
    run.expect_error(3, "CONNECTION_CLOSED");
    run.expect_elapsed(..Duration::from_secs(10));
    assert_contains(&run.stderr, "exiting mid-call, a helper holding stdout");
    // Not sent again: it may have run.
    assert_eq!(sandbox.log("calls.log"), ["write"]);
}
