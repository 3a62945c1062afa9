//! The connection daemon: shared warm servers, lifetimes, faults, security.
//! These tests turn the daemon on whatever the suite's mode.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Sandbox, alive, assert_contains, pids_matching, spawn_slow_call, wait_for};

/// A sandbox whose commands go through its daemon.
fn sandbox() -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_NO_DAEMON", "0");
    sandbox
}

/// The sandbox's daemons, by pid.
fn daemons(sandbox: &Sandbox) -> Vec<u32> {
    pids_matching(&format!("__daemon {}", sandbox.path().display()))
}

/// The sandbox's servers, by pid (their command lines name its state dir).
fn servers(sandbox: &Sandbox) -> Vec<u32> {
    pids_matching(&sandbox.state().display().to_string())
}

/// How many times the sandbox's servers started.
fn spawns(sandbox: &Sandbox) -> usize {
    sandbox
        .log("events.log")
        .iter()
        .filter(|line| line.starts_with("spawn "))
        .count()
}

/// 50 commands at once, 20 calls each, through one daemon to one server:
/// every answer reaches the command that asked.
#[test]
fn fifty_commands_share_one_server_and_each_gets_its_own_answers() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    // The daemon and the server, up first (their start is tested below).
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", r#"{"text": "up"}"#])
            .ok(),
        "up\n"
    );
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for process in 0..50 {
            let (sandbox, failures) = (&sandbox, &failures);
            scope.spawn(move || {
                for call in 0..20 {
                    let text = format!("p{process}-c{call}");
                    let arguments = json!({"text": text}).to_string();
                    let run = sandbox.run(&["call", "demo", "echo", &arguments]);
                    if run.code != 0 || run.stdout != format!("{text}\n") {
                        failures.lock().unwrap().push(format!("{text}: {run:?}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(spawns(&sandbox), 1, "{:?}", sandbox.log("events.log"));
    assert_eq!(daemons(&sandbox).len(), 1);
    // Each call reached the server once.
    let calls = sandbox.log("calls.log");
    assert_eq!(calls.iter().filter(|call| *call == "echo").count(), 1001);
    let status = sandbox.run(&["daemon", "status", "--json"]).json();
    assert_eq!(status["servers"][0]["calls"], 1001, "{status}");
    assert_eq!(status["servers"][0]["state"], "ready", "{status}");
}

/// Parallel first calls start one daemon and one server.
#[test]
fn parallel_first_calls_start_one_daemon() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let sandbox = &sandbox;
                scope.spawn(move || {
                    let arguments = json!({"text": format!("first {n}")}).to_string();
                    sandbox.run(&["call", "demo", "echo", &arguments])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (n, run) in runs.iter().enumerate() {
        assert_eq!(run.ok(), format!("first {n}\n"));
    }
    assert_eq!(daemons(&sandbox).len(), 1);
    assert_eq!(spawns(&sandbox), 1, "{:?}", sandbox.log("events.log"));
}

/// A changed config, an exported variable or another directory is another
/// server; a variable that changes with every shell is not.
#[test]
fn a_changed_config_or_variable_reaches_a_new_server() {
    let mut sandbox = sandbox();
    let config = |sandbox: &Sandbox, value: &str| {
        let mut entry = sandbox.server(&[]);
        entry["env"] = json!({ "FROM_CONFIG": value });
        sandbox.write_config(&json!({"mcpServers": {"demo": entry}}));
    };
    config(&sandbox, "1");
    let call = |sandbox: &Sandbox| {
        assert_eq!(
            sandbox
                .run(&["call", "demo", "echo", r#"{"text": "x"}"#])
                .ok(),
            "x\n"
        );
    };
    let tags = |sandbox: &Sandbox| -> Vec<String> {
        sandbox
            .log("events.log")
            .into_iter()
            .filter(|line| line.starts_with("tag "))
            .collect()
    };
    let root = sandbox.path().display().to_string();
    sandbox.env("MCP_TEST_TAG", "one");
    call(&sandbox);
    call(&sandbox);
    // Only mcp-cli's settings and the shell's own variables changed.
    sandbox
        .env("SHLVL", "7")
        .env("OLDPWD", "/elsewhere")
        .env("MCP_TIMEOUT", "99");
    call(&sandbox);
    assert_eq!(tags(&sandbox), [format!("tag one cwd {root}")]);
    sandbox.env("MCP_TEST_TAG", "two");
    call(&sandbox);
    assert_eq!(
        tags(&sandbox).last().unwrap(),
        &format!("tag two cwd {root}")
    );
    config(&sandbox, "2");
    call(&sandbox);
    assert_eq!(tags(&sandbox).len(), 3);
    // From a subdirectory (the config found above it, by -c).
    let sub = sandbox.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let config_path = sandbox.path().join(".mcp_servers.json");
    let run = crate::support::finish(
        sandbox
            .command(&[
                "-c",
                &config_path.display().to_string(),
                "call",
                "demo",
                "echo",
                r#"{"text": "x"}"#,
            ])
            .current_dir(&sub)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(run.ok(), "x\n");
    assert_eq!(
        tags(&sandbox).last().unwrap(),
        &format!("tag two cwd {}", sub.display())
    );
    assert_eq!(spawns(&sandbox), 4);
}

/// `kill -9` of the daemon mid-call: the call fails as a closed connection
/// (not sent again: it may have run), the next call starts a new daemon,
/// and the killed daemon's server does not outlive it.
#[test]
fn kill_9_of_the_daemon_mid_call() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let child = spawn_slow_call(
        &sandbox,
        sandbox.command(&["call", "demo", "slow", r#"{"seconds": 30}"#]),
    );
    let daemon = daemons(&sandbox);
    let server = servers(&sandbox);
    assert_eq!((daemon.len(), server.len()), (1, 1));
    // SAFETY: kill(2) of the test's own daemon.
    unsafe { libc::kill(daemon[0] as i32, libc::SIGKILL) };
    let run = crate::support::finish(child);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_contains(&run.stderr, "the mcp-cli daemon stopped");
    run.expect_elapsed(..Duration::from_secs(10));
    assert!(
        wait_for(Duration::from_secs(5), || !alive(server[0])),
        "the server outlived its daemon"
    );
    assert_eq!(sandbox.log("calls.log"), ["slow"]);
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", r#"{"text": "again"}"#])
            .ok(),
        "again\n"
    );
    assert_eq!(daemons(&sandbox).len(), 1);
    assert_ne!(daemons(&sandbox), daemon);
}

/// With `MCP_DAEMON_TIMEOUT=2`, an unused server is stopped after 2 s, in
/// the MCP order (it exits on EOF: never signalled), and the daemon exits.
#[test]
fn idle_servers_and_then_the_daemon_go() {
    let mut sandbox = sandbox();
    sandbox.env("MCP_DAEMON_TIMEOUT", "2");
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    let used = Instant::now();
    let server = servers(&sandbox);
    assert_eq!(server.len(), 1);
    assert!(
        wait_for(Duration::from_secs(10), || !alive(server[0])),
        "the idle server was never stopped"
    );
    // About 2 s after its last use (which the daemon saw as the command
    // closed its connection, a moment before it exited).
    let stopped = used.elapsed();
    assert!(
        stopped >= Duration::from_millis(1500),
        "stopped after {stopped:?}"
    );
    assert_eq!(sandbox.log("stop.log"), ["eof"]);
    assert!(
        wait_for(Duration::from_secs(5), || daemons(&sandbox).is_empty()),
        "the daemon outlived its last server"
    );
    let socket_dir = sandbox.path().join("run/mcp-cli");
    let sockets: Vec<_> = std::fs::read_dir(&socket_dir)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".sock"))
        .collect();
    assert!(sockets.is_empty(), "{sockets:?}");
    // And the next call starts it all again.
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
}

/// A server that ignores stdin's end and SIGTERM is killed by `daemon stop`
/// after both graces; one that exits on EOF is never signalled.
#[test]
fn daemon_stop_follows_the_mcp_order() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {
        "deaf": sandbox.server(&["--ignore-stdin-eof", "--ignore-sigterm", "--spawn-grandchild"]),
    }}));
    assert_eq!(sandbox.run(&["call", "deaf", "readonly"]).ok(), "read\n");
    let run = sandbox.stop_daemon();
    assert_eq!(run.ok(), "stopped the daemon and 1 server\n");
    run.expect_elapsed(Duration::from_millis(2900)..Duration::from_secs(8));
    assert_eq!(sandbox.log("stop.log"), ["eof", "signal TERM"]);
    let grandchild: u32 = sandbox
        .log("events.log")
        .iter()
        .find_map(|line| line.strip_prefix("grandchild "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait_for(Duration::from_secs(2), || servers(&sandbox).is_empty()));
    assert!(wait_for(Duration::from_secs(2), || !alive(grandchild)));
    assert!(wait_for(Duration::from_secs(2), || daemons(&sandbox).is_empty()));
    assert_eq!(sandbox.stop_daemon().ok(), "no daemon was running\n");
}

/// Ctrl-C of one command cancels its own request only: the server is told
/// (`notifications/cancelled`), stays up, and serves the next command.
#[test]
fn ctrl_c_cancels_the_request_not_the_server() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let child = spawn_slow_call(
        &sandbox,
        sandbox.command(&["call", "demo", "slow", r#"{"seconds": 30}"#]),
    );
    // SAFETY: kill(2) of the test's own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = crate::support::finish(child);
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        wait_for(Duration::from_secs(5), || sandbox
            .log("events.log")
            .iter()
            .any(|line| line.starts_with("cancelled "))),
        "{:?}",
        sandbox.log("events.log")
    );
    let server = servers(&sandbox);
    assert_eq!(server.len(), 1);
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    assert_eq!(servers(&sandbox), server);
    assert_eq!(spawns(&sandbox), 1);
}

/// Two calls at once on one server, each with progress: each command gets
/// its own, and a slow call does not hold back a fast one.
#[test]
fn progress_reaches_the_command_that_asked() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    let slow = sandbox
        .command(&["call", "demo", "slow", r#"{"seconds": 3}"#])
        .env("MCP_REQUEST_TIMEOUT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Meanwhile a fast one, on the same server.
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Its progress restarted its 1 s request timeout: it reached it.
    let run = crate::support::finish(slow);
    assert_eq!(run.ok(), "slept 3 s\n");
    assert_eq!(spawns(&sandbox), 1);
}

/// A socket directory open to others, or someone else's, is refused, said
/// once, and the command works directly.
#[test]
fn a_socket_directory_that_is_not_private_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let dir = sandbox.path().join("run/mcp-cli");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = sandbox.run(&["call", "demo", "readonly"]);
    assert_eq!(run.stdout, "read\n");
    assert_contains(&run.stderr, "not using the connection daemon");
    assert_contains(&run.stderr, "has mode 0755");
    assert_eq!(run.code, 0);
    assert!(daemons(&sandbox).is_empty());
    // Someone else's (only root can make one here).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let run = sandbox.run(&["call", "demo", "readonly"]);
        assert_eq!(run.stdout, "read\n");
        assert_contains(&run.stderr, "belongs to user 65534");
        assert!(daemons(&sandbox).is_empty());
    }
}

/// The daemon's log says what happened without a secret: no command line,
/// no variable.
#[test]
fn the_log_holds_no_secret() {
    let mut sandbox = sandbox();
    let mut entry = sandbox.server(&[]);
    entry["env"] = json!({"API_TOKEN": "s3cr3t-config"});
    sandbox.write_config(&json!({"mcpServers": {"demo": entry}}));
    sandbox.env("EXPORTED_TOKEN", "s3cr3t-exported");
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    let status = sandbox.run(&["daemon", "status"]);
    assert_contains(status.ok(), "demo  pid ");
    sandbox.stop_daemon().ok();
    let log =
        std::fs::read_to_string(sandbox.path().join(".local/state/mcp-cli/daemon.log")).unwrap();
    assert_contains(&log, "demo: started pid");
    for secret in ["s3cr3t", "--state", "mcp-test-server"] {
        assert!(!log.contains(secret), "{secret} in {log}");
    }
}

/// A daemon killed outright leaves a server that ignores both its stdin's
/// end and SIGTERM: the next daemon finds it recorded, still the same
/// process (its start time), and stops it.
#[cfg(target_os = "linux")]
#[test]
fn the_next_daemon_stops_what_a_killed_one_left() {
    let sandbox = sandbox();
    let kid_state = sandbox.path().join("kid");
    sandbox.write_config(&json!({"mcpServers": {
        "deaf": sandbox.server(&["--ignore-stdin-eof", "--ignore-sigterm"]),
        "kid": {"command": crate::support::test_server(), "args": ["--state", kid_state, "--spawn-grandchild"]},
        "demo": {"command": crate::support::test_server()},
    }}));
    assert_eq!(sandbox.run(&["call", "deaf", "readonly"]).ok(), "read\n");
    assert_eq!(sandbox.run(&["call", "kid", "readonly"]).ok(), "read\n");
    let server = servers(&sandbox);
    let daemon = daemons(&sandbox);
    assert_eq!((server.len(), daemon.len()), (1, 1));
    // The other server's child, in its group: it outlives its server (the
    // parent-death signal stops the server alone).
    let grandchild: u32 = std::fs::read_to_string(kid_state.join("events.log"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("grandchild "))
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: kill(2) of the test's own daemon.
    unsafe { libc::kill(daemon[0] as i32, libc::SIGKILL) };
    assert!(wait_for(Duration::from_secs(5), || daemons(&sandbox).is_empty()));
    // Its stdin closed and SIGTERM sent (the parent-death signal), in
    // either order: both ignored.
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(server[0]));
    let mut stop = sandbox.log("stop.log");
    stop.sort();
    assert_eq!(stop, ["eof", "signal TERM"]);
    // Any command that starts the next daemon.
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", r#"{"text": "x"}"#])
            .ok(),
        "x\n"
    );
    assert!(
        wait_for(Duration::from_secs(5), || !alive(server[0])),
        "the next daemon left it running"
    );
    assert!(
        wait_for(Duration::from_secs(5), || !alive(grandchild)),
        "the next daemon left the other server's child running"
    );
    let log =
        std::fs::read_to_string(sandbox.path().join(".local/state/mcp-cli/daemon.log")).unwrap();
    assert_contains(
        &log,
        &format!("stopping pid {}, left by a daemon that died", server[0]),
    );
}

/// An echo on server-everything, then a long call whose progress keeps it
/// within a 1 s request timeout.
fn calls_on_everything(sandbox: &mut Sandbox) {
    let echo = sandbox.run(&["call", "everything", "echo", r#"{"message":"hi"}"#]);
    assert_eq!(echo.ok(), "Echo: hi\n");
    sandbox.env("MCP_REQUEST_TIMEOUT", "1");
    let long = sandbox.run(&[
        "call",
        "everything",
        "trigger-long-running-operation",
        r#"{"duration": 2, "steps": 4}"#,
    ]);
    assert_eq!(
        long.ok(),
        "Long running operation completed. Duration: 2 seconds, Steps: 4.\n"
    );
}

/// server-everything (which sends notifications of its own) stays warm
/// through the daemon: one process serves a listing, calls and a long call
/// whose progress keeps it within its request timeout.
#[test]
fn server_everything_stays_warm() {
    let mut sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {
        "everything": {
            "command": crate::support::real_server("node_modules/.bin/mcp-server-everything"),
            "args": ["stdio"],
        },
    }}));
    let first = sandbox.run(&["info", "everything"]);
    assert_contains(first.ok(), "echo");
    let pid = |sandbox: &Sandbox| {
        let status = sandbox.run(&["daemon", "status", "--json"]).json();
        assert_eq!(status["servers"].as_array().unwrap().len(), 1, "{status}");
        status["servers"][0]["pid"].as_u64().unwrap()
    };
    let server = pid(&sandbox);
    let started = Instant::now();
    let warm = sandbox.run(&["info", "everything"]);
    assert_eq!(warm.ok(), first.stdout);
    // Warm: no node start (which takes some 200 ms here).
    assert!(started.elapsed() < Duration::from_secs(2));
    calls_on_everything(&mut sandbox);
    assert_eq!(pid(&sandbox), server);
}

/// A remote server through the daemon: one HTTP session serves every
/// command (one `initialize`), a 503 is retried as without the daemon (the
/// tool ran once), other headers are another session, and other proxies
/// than the daemon's connect directly. (Progress over HTTP: below, with
/// server-everything.)
#[test]
fn a_remote_server_is_one_session_for_every_command() {
    let mut sandbox = sandbox();
    let server =
        crate::remote::http_server(&sandbox, &["--http-fault", "status:503:1:0:tools/call"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let initializes = |sandbox: &Sandbox| {
        sandbox
            .log("http.log")
            .iter()
            .filter(|line| line.contains(" initialize 200"))
            .count()
    };
    // The first call meets a 503, retried after its Retry-After: 0.
    assert_eq!(
        sandbox
            .run(&["call", "t", "echo", r#"{"text": "one"}"#])
            .ok(),
        "one\n"
    );
    assert_eq!(
        sandbox
            .run(&["call", "t", "echo", r#"{"text": "two"}"#])
            .ok(),
        "two\n"
    );
    assert_eq!(initializes(&sandbox), 1, "{:?}", sandbox.log("http.log"));
    assert_eq!(sandbox.log("calls.log"), ["echo", "echo"]);
    let status = sandbox.run(&["daemon", "status", "--json"]).json();
    assert_eq!(
        status["servers"][0]["pid"],
        serde_json::Value::Null,
        "{status}"
    );
    assert_eq!(status["servers"][0]["state"], "ready", "{status}");
    // Another header: another session.
    sandbox.write_config(
        &json!({"mcpServers": {"t": {"url": server.url, "headers": {"X-Team": "b"}}}}),
    );
    assert_eq!(
        sandbox
            .run(&["call", "t", "echo", r#"{"text": "three"}"#])
            .ok(),
        "three\n"
    );
    assert_eq!(initializes(&sandbox), 2);
    // Other proxies than the daemon's (loopback bypasses them): directly.
    sandbox.env("NO_PROXY", "example.com");
    let run = sandbox.run(&["call", "t", "echo", r#"{"text": "four"}"#]);
    assert_eq!(run.ok(), "four\n");
    assert_eq!(initializes(&sandbox), 3);
    let run = sandbox.run(&["call", "t", "echo", r#"{"text": "five"}"#]);
    assert_eq!(run.ok(), "five\n");
    assert_eq!(initializes(&sandbox), 4);
    // Stopped, the daemon ends its sessions.
    sandbox.stop_daemon().ok();
    let deletes = sandbox
        .log("http.log")
        .iter()
        .filter(|line| line.starts_with("DELETE "))
        .count();
    assert_eq!(deletes, 4, "{:?}", sandbox.log("http.log"));
}

/// server-everything over Streamable HTTP, warm through the daemon: its
/// notifications break nothing, and a long call's progress keeps it alive.
#[test]
fn server_everything_over_http_stays_warm() {
    let mut sandbox = sandbox();
    let server = crate::remote::everything("streamableHttp");
    sandbox.write_config(&json!({"mcpServers": {"everything": {"url": server.url}}}));
    let first = sandbox.run(&["info", "everything"]);
    assert_contains(first.ok(), "echo");
    assert_eq!(sandbox.run(&["info", "everything"]).ok(), first.stdout);
    calls_on_everything(&mut sandbox);
    let status = sandbox.run(&["daemon", "status", "--json"]).json();
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{status}");
    assert_eq!(servers[0]["requests"], 4, "{status}");
}

/// The same command, with the daemon and without, against servers broken
/// in many ways: the same stdout, stderr and exit code.
#[test]
fn broken_servers_say_the_same_with_and_without_the_daemon() {
    /// The server's switches, the command line, the variables.
    type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (
            &["--crash-on-call", "--stderr-on-exit", "bye"],
            &["call", "s", "echo", r#"{"text":"x"}"#],
            &[],
        ),
        (
            &["--crash-on-call-tool", "readonly"],
            &["call", "s", "readonly"],
            &[],
        ),
        (
            &["--exit-before-init", "--stderr-on-exit", "no"],
            &["call", "s", "echo", "{}"],
            &[("MCP_MAX_RETRIES", "1")],
        ),
        (
            &["--garbage"],
            &["call", "s", "echo", r#"{"text":"x"}"#],
            &[],
        ),
        (
            &["--bad-answer", "nan"],
            &["call", "s", "echo", r#"{"text":"x"}"#],
            &[],
        ),
        (
            &["--bad-answer", "pretty"],
            &["call", "s", "echo", r#"{"text":"x"}"#],
            &[],
        ),
        (
            &["--odd-results"],
            &["call", "s", "echo", r#"{"text":"x"}"#],
            &[],
        ),
        (&["--odd-results"], &["--json", "call", "s", "fail"], &[]),
        (&["--odd-tools"], &["info", "s"], &[]),
        (&["--hostile"], &["info", "s"], &[]),
        (
            &["--hang-on-call"],
            &["call", "s", "echo", "{}"],
            &[("MCP_REQUEST_TIMEOUT", "0.5")],
        ),
        (
            &["--protocol-version", "1999-01-01"],
            &["call", "s", "echo", "{}"],
            &[],
        ),
        (
            &["--endless-line-on-call"],
            &["call", "s", "echo", "{}"],
            &[("MCP_TIMEOUT", "20")],
        ),
        (&[], &["call", "s", "nope", "{}"], &[]),
        (&[], &["call", "s", "add", r#"{"a":"x"}"#], &[]),
        (&[], &["--json", "call", "s", "mixed"], &[]),
        (&[], &["call", "s", "huge", r#"{"bytes": 3000000}"#], &[]),
        (
            &["--noisy-stderr", "3", "--crash-on-call"],
            &["call", "s", "write", "{}"],
            &[],
        ),
    ];
    for (switches, args, env) in cases {
        let mut sandbox = Sandbox::new();
        for (key, value) in *env {
            sandbox.env(key, value);
        }
        sandbox.write_config(&json!({"mcpServers": {"s": sandbox.server(switches)}}));
        let outcomes: Vec<_> = ["0", "1"]
            .iter()
            .map(|no_daemon| {
                sandbox.env("MCP_NO_DAEMON", no_daemon);
                let run = sandbox.run(args);
                // Durations vary from run to run, and so do request ids
                // (random) and a parser's column after one.
                let steady = |text: &str| {
                    let words: Vec<&str> = text.split_whitespace().collect();
                    words
                        .iter()
                        .enumerate()
                        .map(|(at, word)| {
                            let after_column = at > 0 && words[at - 1] == "column";
                            let bare = word.trim_end_matches([',', ')', ':']);
                            let id = bare.len() >= 10 && bare.bytes().all(|b| b.is_ascii_digit());
                            if after_column || id || bare.ends_with("ms") {
                                "<varies>"
                            } else {
                                word
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                (
                    run.code,
                    run.stdout.len(),
                    run.stdout.chars().take(2000).collect::<String>(),
                    steady(&run.stderr),
                )
            })
            .collect();
        assert_eq!(
            outcomes[0], outcomes[1],
            "{switches:?} {args:?}: through the daemon (left) and directly (right)"
        );
    }
}

/// A server that stops reading (busy for good with a call it runs one at a
/// time): a command's request stuck behind it holds up nothing, the server
/// does not answer the daemon's ping after the cancellation and is set
/// aside, the next command gets a new one, and the stuck one is stopped
/// once its commands are done.
#[test]
fn an_unresponsive_server_is_set_aside() {
    let mut sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&["--serial"])}}));
    sandbox.env("MCP_TIMEOUT", "2");
    let busy = sandbox.run(&["call", "demo", "slow", r#"{"seconds": 30}"#]);
    busy.expect_error(3, "OPERATION_CANCELLED");
    // A request larger than a pipe holds, behind the busy call.
    let big = json!({"text": "a".repeat(300_000)}).to_string();
    let stuck = sandbox.run_with_stdin(&["call", "demo", "echo"], &big);
    stuck.expect_error(3, "OPERATION_CANCELLED");
    let first = servers(&sandbox);
    assert_eq!(first.len(), 1);
    // Past the ping's time (0.5 + 2 s), a new server answers at once.
    std::thread::sleep(Duration::from_secs(3));
    sandbox.env("MCP_TIMEOUT", "20");
    let run = sandbox.run(&["call", "demo", "echo", r#"{"text": "fresh"}"#]);
    assert_eq!(run.ok(), "fresh\n");
    run.expect_elapsed(..Duration::from_secs(2));
    assert_eq!(spawns(&sandbox), 2);
    assert!(
        wait_for(Duration::from_secs(10), || !alive(first[0])),
        "the unresponsive server was never stopped"
    );
    let log =
        std::fs::read_to_string(sandbox.path().join(".local/state/mcp-cli/daemon.log")).unwrap();
    assert_contains(
        &log,
        "did not answer a ping after a cancellation; set aside",
    );
}

/// What the first command's shell left open, its umask and directory are
/// not the daemon's: a pipe the command wrote to is not held open by the
/// daemon, and a server started with another umask is another server.
#[test]
fn the_daemon_keeps_nothing_of_the_command_that_started_it() {
    let sandbox = sandbox();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let cli = crate::support::mcp_cli().display().to_string();
    let shell = |script: &str| {
        let started = Instant::now();
        let output = std::process::Command::new("sh")
            .args(["-c", &script.replace("CLI", &format!("'{cli}'"))])
            .current_dir(sandbox.path())
            .env("HOME", sandbox.path())
            .envs(sandbox.daemon_env())
            .env("MCP_NO_DAEMON", "0")
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            started.elapsed(),
        )
    };
    // The reader of a pipe on descriptor 5 sees its end when the command
    // exits, not when the daemon does.
    let (out, took) =
        shell(r#"{ CLI call demo echo '{"text":"x"}' 5>&1 >/dev/null; } | cat; echo done"#);
    assert_eq!(out, "done\n");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(daemons(&sandbox).len(), 1);
    let daemon = daemons(&sandbox)[0];
    let cwd = std::fs::read_link(format!("/proc/{daemon}/cwd")).unwrap();
    assert_eq!(cwd, std::path::Path::new("/"));
    let (out, _) = shell(r#"umask 077; CLI call demo echo '{"text":"y"}'"#);
    assert_eq!(out, "y\n");
    assert_eq!(spawns(&sandbox), 2);
}

/// A server that never answers `initialize` is not kept for the next
/// command (which finds it fixed), and one command's broken HTTP request
/// ends no other command's call on the same session.
#[test]
fn a_failure_of_one_command_is_not_the_next_ones() {
    let mut sandbox = sandbox();
    let fixed = sandbox.path().join("fixed");
    let server = crate::support::test_server().display().to_string();
    let state = sandbox.state().display().to_string();
    sandbox.write_config(&json!({"mcpServers": {"s": {
        "command": "sh",
        "args": ["-c", "if [ -e \"$0\" ]; then exec \"$1\" --state \"$2\"; else exec \"$1\" --hang; fi", fixed, server, state],
    }}}));
    sandbox
        .env("MCP_REQUEST_TIMEOUT", "1")
        .env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["call", "s", "echo", r#"{"text": "A"}"#]);
    run.expect_error(3, "TIMEOUT");
    std::fs::write(&fixed, "").unwrap();
    let run = sandbox.run(&["call", "s", "echo", r#"{"text": "B"}"#]);
    assert_eq!(run.ok(), "B\n");

    let http = crate::remote::http_server(&sandbox, &["--http-fault", "reset:tools/list"]);
    sandbox.write_config(&json!({"mcpServers": {"h": {"url": http.url}}}));
    let slow = sandbox
        .command(&["call", "h", "slow", r#"{"seconds": 2}"#])
        .env("MCP_REQUEST_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || sandbox
        .log("calls.log")
        .contains(&"slow".to_owned())));
    let info = sandbox.run(&["info", "h"]);
    info.expect_error(3, "CONNECTION_CLOSED");
    assert_eq!(crate::support::finish(slow).ok(), "slept 2 s\n");
}
