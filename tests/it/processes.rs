//! Child processes: stopped with the command, on success, failure and signals.
//!
//! Most tests here are of a command and the servers it starts itself, and
//! so run without the daemon; the daemon's own are in `daemon.rs`. Those of
//! the stop order run in both modes: the command's, or the daemon's.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::{
    Sandbox, alive, assert_contains, finish, pids_matching, spawn_slow_call, wait_for,
};

/// Asserts that the sandbox's servers, and with `grandchild` the one a
/// server recorded starting, are gone (within 2 s: a killed group takes a
/// moment).
fn assert_nothing_left(sandbox: &Sandbox, grandchild: bool) {
    if grandchild {
        let pid: u32 = sandbox
            .log("events.log")
            .iter()
            .find_map(|line| line.strip_prefix("grandchild "))
            .expect("the server recorded its grandchild")
            .parse()
            .unwrap();
        assert!(
            wait_for(Duration::from_secs(2), || !alive(pid)),
            "grandchild {pid} survived"
        );
    }
    let marker = sandbox.state().display().to_string();
    assert!(
        wait_for(Duration::from_secs(2), || pids_matching(&marker).is_empty()),
        "server left behind"
    );
}

#[test]
fn a_call_refused_before_connecting_starts_no_server() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_DEBUG", "1");
    sandbox.write_config(&json!({"mcpServers": {
        "demo": sandbox.server(&[]),
        "narrow": {"command": crate::support::test_server(), "args": ["--state", sandbox.state().display().to_string()], "disabledTools": ["write"]},
    }}));
    for (words, kind) in [
        (
            &["call", "demo", "echo", "{not json"][..],
            "INVALID_JSON_ARGUMENTS",
        ),
        (&["call", "narrow", "write", "{}"], "TOOL_DISABLED"),
        (&["call", "demo"], "MISSING_ARGUMENT"),
    ] {
        let run = sandbox.run(words);
        run.expect_error(1, kind);
        assert!(!run.stderr.contains("started `"), "{}", run.stderr);
    }
    assert_eq!(sandbox.log("events.log"), Vec::<String>::new());
    // What a start looks like under MCP_DEBUG.
    let run = sandbox.run(&["call", "demo", "echo", "{}"]);
    if sandbox.through_daemon() {
        assert_contains(
            &run.stderr,
            "[mcp-cli] demo: through the daemon (server pid ",
        );
    } else {
        assert_contains(&run.stderr, "[mcp-cli] demo: started `");
    }
}

#[test]
fn servers_and_their_children_are_gone_after_a_command() {
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "stubborn": sandbox.server(&["--spawn-grandchild", "--ignore-stdin-eof"])
    }}));
    let run = sandbox.run(&["call", "stubborn", "readonly"]);
    assert_eq!(run.ok(), "read\n");
    // A server that ignores stdin EOF gets SIGTERM once the 2 s grace for
    // it to exit has run out, and goes at once: not after the 1 s grace
    // for SIGTERM, as it would if it had inherited a blocked mask.
    assert_eq!(sandbox.log("stop.log"), ["eof", "signal TERM"]);
    run.expect_elapsed(Duration::from_millis(1900)..Duration::from_millis(2900));
    assert_nothing_left(&sandbox, true);
}

/// The MCP order of stopping: stdin closed, then time to exit by itself; a
/// server that does is never signalled.
#[test]
fn a_server_that_exits_on_eof_is_never_signalled() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let run = sandbox.run(&["call", "demo", "readonly"]);
    assert_eq!(run.ok(), "read\n");
    if sandbox.through_daemon() {
        assert_eq!(sandbox.log("stop.log"), Vec::<String>::new());
        sandbox.stop_daemon().ok();
    }
    assert_eq!(sandbox.log("stop.log"), ["eof"]);
    assert_nothing_left(&sandbox, false);
}

/// A server that ignores both stdin's end and SIGTERM is killed once both
/// graces have run out, and nothing is left.
#[test]
fn a_server_that_ignores_sigterm_is_killed_after_the_grace() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "deaf": sandbox.server(&["--ignore-stdin-eof", "--ignore-sigterm"]),
    }}));
    let mut run = sandbox.run(&["call", "deaf", "readonly"]);
    assert_eq!(run.ok(), "read\n");
    if sandbox.through_daemon() {
        run = sandbox.stop_daemon();
        assert_eq!(run.ok(), "stopped the daemon and 1 server\n");
    }
    assert_eq!(sandbox.log("stop.log"), ["eof", "signal TERM"]);
    run.expect_elapsed(Duration::from_millis(2900)..Duration::from_secs(6));
    assert_nothing_left(&sandbox, false);
}

/// Starts `call demo slow` (30 s) on a server with `switches`; returns once
/// the server has started the call.
fn start_slow_call(switches: &[&str]) -> (Sandbox, std::process::Child) {
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(switches)}}));
    let child = spawn_slow_call(
        &sandbox,
        sandbox.command(&["call", "demo", "slow", r#"{"seconds": 30}"#]),
    );
    (sandbox, child)
}

fn kill(signal: &str, pid: u32) {
    let signal = match signal {
        "-INT" => libc::SIGINT,
        "-TERM" => libc::SIGTERM,
        "-HUP" => libc::SIGHUP,
        other => panic!("no signal {other}"),
    };
    // SAFETY: kill(2) on a child of this test.
    let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(sent, 0, "kill failed");
}

fn interrupt_mid_call(signal: &str, code: i32) {
    let (sandbox, child) = start_slow_call(&["--spawn-grandchild"]);
    kill(signal, child.id());
    let run = finish(child);
    assert_eq!(run.code, code, "{run:#?}");
    assert_contains(&run.stderr, "Error [INTERRUPTED]");
    run.expect_elapsed(..Duration::from_secs(5));
    let events = sandbox.log("events.log");
    assert!(
        events.iter().any(|e| e.starts_with("cancelled")),
        "{events:?}"
    );
    assert_nothing_left(&sandbox, true);
}

#[test]
fn ctrl_c_mid_call_cancels_stops_the_server_and_exits_130() {
    interrupt_mid_call("-INT", 130);
}

#[test]
fn sigterm_mid_call_exits_143() {
    interrupt_mid_call("-TERM", 143);
}

#[test]
fn parallel_listing_reports_a_broken_server_in_place() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "first": sandbox.server(&[]),
        "broken": sandbox.server(&["--exit-before-init", "--stderr-on-exit", "config file missing"]),
        "missing": {"command": "/nonexistent/server"},
        "last": sandbox.server(&["--slow-start", "300"]),
    }}));
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&[]);
    assert_eq!(run.code, 3, "{run:#?}");
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert_eq!(lines[0], "first");
    assert!(
        lines[1].starts_with("broken  (failed: ") && lines[1].contains("initialize"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("missing  (failed: cannot start"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "last");
    assert_eq!(run.stdout.matches("  • echo").count(), 2);
    // The first failure in full on stderr, with the server's own words.
    assert_contains(&run.stderr, "config file missing");
    let json = sandbox.run(&["--json"]).json();
    assert_eq!(json["servers"][1]["error"]["error"], "CONNECTION_CLOSED");
    assert_eq!(json["servers"][2]["error"]["error"], "SERVER_SPAWN_FAILED");
}

#[test]
fn a_listing_stopped_by_a_signal_prints_every_server_that_answered() {
    // A server that never answers `tools/list` holds the listing until the
    // deadline. A harness that gives up with SIGTERM still gets the others,
    // in config order, and the hung one marked.
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "first": sandbox.server(&[]),
        "hung": sandbox.server(&["--hang-on-list"]),
        "last": sandbox.server(&[]),
    }}));
    let mut child = sandbox
        .command(&[])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nine tools in pages of four: three pages each for `first` and `last`,
    // one request for `hung`.
    let asked = || {
        sandbox
            .log("events.log")
            .iter()
            .filter(|line| *line == "request tools/list")
            .count()
    };
    let all_asked = wait_for(Duration::from_secs(10), || asked() == 7);
    if !all_asked {
        // Not left waiting for its deadline.
        let _ = child.kill();
    }
    assert!(
        all_asked,
        "not every page was asked for: {:?}",
        sandbox.log("events.log")
    );
    // Time for the last page to arrive.
    std::thread::sleep(Duration::from_millis(300));
    kill("-TERM", child.id());
    let run = finish(child);
    assert_eq!(run.code, 143, "{run:#?}");
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(
        lines,
        ["first", "hung  (failed: interrupted by SIGTERM)", "last"],
        "{run:#?}"
    );
    assert_eq!(run.stdout.matches("  • echo").count(), 2);
    assert_contains(&run.stderr, "Error [INTERRUPTED]");
    assert_nothing_left(&sandbox, false);
}

#[test]
fn a_listing_nobody_reads_any_more_stops_at_once() {
    // `mcp-cli | head -1` with a server that never answers: head is done
    // after the first line, and the listing must not wait for the deadline.
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "first": sandbox.server(&[]),
        "hung": sandbox.server(&["--hang-on-list"]),
    }}));
    let script = format!(
        "'{}' | head -1; echo \" status=${{PIPESTATUS[0]}}\"",
        crate::support::mcp_cli().display()
    );
    let started = std::time::Instant::now();
    let shell = std::process::Command::new("timeout")
        .args(["20", "bash", "-c", &script])
        .current_dir(sandbox.path())
        .envs(sandbox.daemon_env())
        .env("HOME", sandbox.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shell.stdout);
    assert_eq!(stdout, "first\n status=0\n", "{shell:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_nothing_left(&sandbox, false);
}

#[test]
fn listing_runs_servers_concurrently() {
    let mut sandbox = Sandbox::new();
    let servers: serde_json::Map<String, serde_json::Value> = (0..4)
        .map(|i| (format!("s{i}"), sandbox.server(&["--slow-start", "700"])))
        .collect();
    sandbox.write_config(&json!({ "mcpServers": servers }));
    let run = sandbox.run(&[]);
    run.ok();
    run.expect_elapsed(..Duration::from_millis(2000));
    sandbox.env("MCP_CONCURRENCY", "1");
    // Other servers: the daemon holds the first ones warm.
    let servers: serde_json::Map<String, serde_json::Value> = (0..4)
        .map(|i| (format!("t{i}"), sandbox.server(&["--slow-start", "701"])))
        .collect();
    sandbox.write_config(&json!({ "mcpServers": servers }));
    let run = sandbox.run(&[]);
    run.ok();
    run.expect_elapsed(Duration::from_millis(2800)..);
}

/// Starts a call whose 5 MB result mcp-cli cannot write: nobody reads its
/// stdout (nor, with `shared`, its stderr, on the same pipe, as `2>&1`
/// does; else stderr goes to `stderr.txt`). Returns once mcp-cli is stuck in
/// that write.
fn start_blocked_write(shared: bool) -> (Sandbox, std::process::Child) {
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let mut command = sandbox.command(&["call", "demo", "huge", r#"{"bytes": 5000000}"#]);
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    if shared {
        // The child's stderr onto its stdout pipe, as a shell's `2>&1`.
        // SAFETY: dup2(2) in the child before exec, on its own descriptors.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::dup2(1, 2) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        command.stderr(std::fs::File::create(sandbox.path().join("stderr.txt")).unwrap());
    }
    let child = command.spawn().unwrap();
    let wchan = format!("/proc/{}/wchan", child.id());
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(&wchan)
            .is_ok_and(|state| state.contains("pipe_write"))),
        "mcp-cli never blocked on its stdout"
    );
    (sandbox, child)
}

/// Waits for `child` without reading its stdout; returns its exit code and
/// how long that took.
fn wait_unread(mut child: std::process::Child) -> (i32, Duration) {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_signal_ends_a_command_stuck_writing_its_output() {
    let (sandbox, child) = start_blocked_write(false);
    kill("-INT", child.id());
    let (code, elapsed) = wait_unread(child);
    assert_eq!(code, 130);
    // The command cannot wind down by itself; it is ended after FORCE_AFTER.
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(5),
        "took {elapsed:?}"
    );
    assert_nothing_left(&sandbox, false);
    // Said by the signal handler itself.
    let stderr = std::fs::read_to_string(sandbox.path().join("stderr.txt")).unwrap();
    assert_eq!(
        stderr,
        "Error [INTERRUPTED]: interrupted by SIGINT; stopped at once, servers killed\n"
    );

    // A second signal (apart from the first, as two key presses are) does
    // not wait.
    let (_sandbox, child) = start_blocked_write(false);
    kill("-TERM", child.id());
    std::thread::sleep(Duration::from_millis(200));
    kill("-TERM", child.id());
    let (code, elapsed) = wait_unread(child);
    assert_eq!(code, 143);
    assert!(elapsed < Duration::from_millis(1200), "took {elapsed:?}");

    // With stderr on the same unread pipe, the message is left out rather
    // than block the exit.
    let (sandbox, child) = start_blocked_write(true);
    kill("-INT", child.id());
    let (code, elapsed) = wait_unread(child);
    assert_eq!(code, 130);
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_nothing_left(&sandbox, false);
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let (sandbox, child) = start_slow_call(&["--ignore-stdin-eof"]);
    kill("-INT", child.id());
    kill("-INT", child.id());
    let run = finish(child);
    assert_eq!(run.code, 130, "{run:#?}");
    run.expect_elapsed(..Duration::from_secs(3));
    assert_nothing_left(&sandbox, false);
}

/// On a terminal, progress is drawn on stderr and cleared before the result;
/// errors are coloured unless NO_COLOR is set.
#[test]
fn progress_and_colour_on_a_terminal() {
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "demo": sandbox.server(&[]),
        "sluggish": sandbox.server(&["--slow-start", "2000"]),
    }}));
    let in_terminal = |command: &str, no_color: bool| {
        let mut script = std::process::Command::new("script");
        script
            .args(["-qec", command, "/dev/null"])
            .current_dir(sandbox.path())
            .env("HOME", sandbox.path())
            .env("MCP_NO_DAEMON", "1")
            .env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let output = script.output().expect("script(1) from util-linux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let cli = crate::support::mcp_cli().display().to_string();
    let screen = in_terminal(
        &format!("'{cli}' call demo slow '{{\"seconds\": 1}}'"),
        false,
    );
    assert!(
        screen.contains("demo/slow: step 1 of 4 (1/4)"),
        "{screen:?}"
    );
    assert!(screen.contains("\r\x1b[2K"), "{screen:?}");
    assert!(screen.trim_end().ends_with("slept 1 s"), "{screen:?}");
    // A slow start shows what is awaited, then the result.
    let screen = in_terminal(&format!("'{cli}' call sluggish readonly"), false);
    assert!(
        screen.contains("sluggish/readonly: waiting for `sluggish` (1 s)"),
        "{screen:?}"
    );
    assert!(screen.trim_end().ends_with("\r\x1b[2Kread"), "{screen:?}");
    let screen = in_terminal(&format!("'{cli}'"), false);
    assert!(
        screen.contains("of 2 servers done, waiting for sluggish ("),
        "{screen:?}"
    );
    // Not on a pipe.
    let run = sandbox.run(&["call", "sluggish", "readonly"]);
    assert_eq!((run.ok(), run.stderr.as_str()), ("read\n", ""));
    let error = in_terminal(&format!("'{cli}' info nope"), false);
    assert!(
        error.contains("\x1b[1;31mError [SERVER_NOT_FOUND]"),
        "{error:?}"
    );
    let plain = in_terminal(&format!("'{cli}' info nope"), true);
    assert!(
        plain.contains("Error [SERVER_NOT_FOUND]") && !plain.contains("\x1b["),
        "{plain:?}"
    );
}

#[test]
fn sighup_mid_call_exits_129_and_leaves_nothing_behind() {
    interrupt_mid_call("-HUP", 129);
}

#[test]
fn servers_start_with_no_signal_blocked_or_ignored() {
    // The server is a shell that records what it inherited (grep inherits it
    // in turn: blocked and ignored signals survive fork and exec), then runs
    // the test server. mcp-cli starts with SIGPIPE ignored, as Rust's test
    // harness leaves it, and ignores it itself.
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    std::fs::create_dir_all(&state).unwrap();
    let script = format!(
        "grep -E '^Sig(Blk|Ign):' /proc/self/status > '{}/signals'; exec '{}' --state '{}'",
        state.display(),
        crate::support::test_server().display(),
        state.display()
    );
    sandbox
        .write_config(&json!({"mcpServers": {"demo": {"command": "sh", "args": ["-c", script]}}}));
    assert_eq!(sandbox.run(&["call", "demo", "readonly"]).ok(), "read\n");
    let status = std::fs::read_to_string(state.join("signals")).unwrap();
    for field in ["SigBlk:", "SigIgn:"] {
        let line = status.lines().find(|line| line.starts_with(field)).unwrap();
        let mask = u64::from_str_radix(line[field.len()..].trim(), 16).unwrap();
        // Bits of SIGHUP (1), SIGINT (2), SIGQUIT (3), SIGPIPE (13), SIGALRM
        // (14) and SIGTERM (15): all handled by mcp-cli, none passed on.
        let ours = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 12) | (1 << 13) | (1 << 14);
        assert_eq!(mask & ours, 0, "{line}");
    }
}

/// A server that reads the terminal (ssh or sudo asking for a password)
/// has none: it fails at once instead of being stopped by SIGTTIN until
/// the deadline (Linux: servers run in a session of their own).
#[cfg(target_os = "linux")]
#[test]
fn a_server_cannot_wait_on_the_terminal() {
    let sandbox = Sandbox::new();
    let server = crate::support::test_server().display().to_string();
    sandbox.write_config(&json!({"mcpServers": {"prompt": {
        "command": "sh",
        "args": ["-c", "read answer < /dev/tty; exec \"$0\"", server],
    }}}));
    // mcp-cli on a terminal (script(1)), as a person runs it.
    let command = format!(
        "MCP_TIMEOUT=20 {} call prompt echo '{{\"text\": \"x\"}}'",
        crate::support::mcp_cli().display()
    );
    let started = std::time::Instant::now();
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(sandbox.path())
        .envs(sandbox.daemon_env())
        .env("HOME", sandbox.path())
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited: {shown}"
    );
    assert!(shown.trim_end().ends_with('x'), "{shown}");
}

/// `nohup mcp-cli ...`: a hang-up ignored at start stays ignored, and the
/// call finishes (its server does not see the signal either).
#[test]
fn a_signal_ignored_at_start_stays_ignored() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"demo": sandbox.server(&[])}}));
    let mut command = sandbox.command(&["call", "demo", "slow", r#"{"seconds": 1}"#]);
    // SAFETY: signal(2) in the child before exec, as nohup(1) does.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let child = spawn_slow_call(&sandbox, command);
    kill("-HUP", child.id());
    let run = finish(child);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "slept 1 s\n");
}

/// Out of file descriptors with many servers: an error naming the cause,
/// never a panic, and no server left behind.
#[test]
fn running_out_of_descriptors_is_an_error_not_a_panic() {
    let sandbox = Sandbox::direct();
    let servers: serde_json::Map<String, serde_json::Value> = (0..40)
        .map(|index| (format!("s{index}"), sandbox.server(&[])))
        .collect();
    sandbox.write_config(&json!({ "mcpServers": servers }));
    let mut command = sandbox.command(&[]);
    command
        .env("MCP_CONCURRENCY", "40")
        .env("MCP_MAX_RETRIES", "0");
    // SAFETY: setrlimit(2) in the child before exec, as `ulimit -n 40`.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            let limit = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 40,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let run = finish(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(run.code, 3, "{run:#?}");
    assert_contains(&run.stderr, "ran out of file descriptors");
    assert_contains(&run.stderr, "ulimit -n");
    assert_nothing_left(&sandbox, false);
}

/// Ctrl-C while a server is given its time to exit (the result is out):
/// the wait is cut short, the server stopped, and the exit says so.
#[test]
fn ctrl_c_cuts_the_wait_for_a_server_to_exit() {
    let sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "stubborn": sandbox.server(&["--ignore-stdin-eof"]),
    }}));
    let child = sandbox
        .command(&["call", "stubborn", "readonly"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || sandbox
            .log("stop.log")
            .contains(&"eof".to_owned())),
        "the server never saw its stdin close"
    );
    kill("-INT", child.id());
    let (code, elapsed) = wait_unread(child);
    assert_eq!(code, 130);
    // 250 ms for it to exit by itself, then SIGTERM: not the 2 s grace.
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(sandbox.log("stop.log"), ["eof", "signal TERM"]);
    assert_nothing_left(&sandbox, false);
}

/// The deadline bounds stopping too: each wait shrinks to what is left of
/// MCP_TIMEOUT when it starts.
#[test]
fn the_deadline_bounds_the_stop_order() {
    let mut sandbox = Sandbox::direct();
    sandbox.write_config(&json!({"mcpServers": {
        "deaf": sandbox.server(&["--ignore-stdin-eof", "--ignore-sigterm"]),
    }}));
    sandbox.env("MCP_TIMEOUT", "1");
    let run = sandbox.run(&["call", "deaf", "readonly"]);
    assert_eq!(run.ok(), "read\n");
    // About 1.1 s: the rest of the second, then SIGTERM and 100 ms.
    run.expect_elapsed(..Duration::from_millis(1700));
    assert_eq!(sandbox.log("stop.log"), ["eof", "signal TERM"]);
    assert_nothing_left(&sandbox, false);
}
