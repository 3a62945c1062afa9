//! Usage, config and settings errors: each TYPE and exit code.

use serde_json::json;

use std::time::Duration;

use crate::support::{Sandbox, assert_contains, mkfifo};

#[test]
fn help_teaches_verbs_variables_and_exit_codes() {
    let run = Sandbox::new().run(&["--help"]);
    let help = run.ok();
    for needle in [
        "call",
        "grep",
        "info",
        "MCP_TIMEOUT",
        "MCP_CONFIG_PATH",
        "Exit codes",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let version = Sandbox::new().run(&["-v"]);
    assert!(version.ok().contains(env!("CARGO_PKG_VERSION")));
    let call_help = Sandbox::new().run(&["call", "--help"]);
    assert!(call_help.ok().contains("1 s"), "{}", call_help.stdout);
    assert!(Sandbox::new().run(&["help", "grep"]).ok().contains("glob"));
    Sandbox::new()
        .run(&["help", "nope"])
        .expect_error(1, "UNKNOWN_SUBCOMMAND");
}

#[test]
fn missing_config_lists_every_searched_path() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[]);
    run.expect_error(1, "CONFIG_NOT_FOUND");
    assert!(run.stderr.contains("mcp_servers.json"));
    assert!(run.stderr.contains(".mcp_servers.json"));
    assert!(run.stderr.contains(".config/mcp/mcp_servers.json"));
}

#[test]
fn config_lookup_order_flag_then_env_then_cwd() {
    let sandbox = Sandbox::new();
    sandbox.write("a.json", r#"{"mcpServers": {"from-a": {"command": "x"}}}"#);
    sandbox.write("b.json", r#"{"mcpServers": {"from-b": {"command": "x"}}}"#);
    sandbox.write(
        "mcp_servers.json",
        r#"{"mcpServers": {"from-cwd": {"command": "x"}}}"#,
    );
    let missing = |run: crate::support::Run| run.stderr.clone();
    // The folder's file runs nothing until it is trusted.
    sandbox
        .run(&["info", "nope"])
        .expect_error(1, "CONFIG_UNTRUSTED");
    sandbox.run(&["trust"]).ok();
    // Each lookup names the server it found through SERVER_NOT_FOUND's list.
    let stderr = missing(sandbox.run(&["info", "nope"]));
    assert!(stderr.contains("from-cwd"), "{stderr}");
    let stderr = missing(sandbox.run(&["-c", "b.json", "info", "nope"]));
    assert!(stderr.contains("from-b"), "{stderr}");
    let mut sandbox = sandbox;
    sandbox.env("MCP_CONFIG_PATH", "a.json");
    let stderr = missing(sandbox.run(&["-c", "b.json", "info", "nope"]));
    assert!(stderr.contains("from-b"), "{stderr}");
    let stderr = missing(sandbox.run(&["info", "nope"]));
    assert!(stderr.contains("from-a"), "{stderr}");
    // A file named explicitly that is not there is not searched past.
    let run = sandbox.run(&["-c", "missing.json", "info", "nope"]);
    run.expect_error(1, "CONFIG_NOT_FOUND");
    assert_contains(&run.stderr, "Config file not found: missing.json");
    sandbox.env("MCP_CONFIG_PATH", "gone.json");
    let run = sandbox.run(&["info", "nope"]);
    run.expect_error(1, "CONFIG_NOT_FOUND");
    assert_contains(&run.stderr, "Config file not found: gone.json");
}

#[test]
fn invalid_json_names_line_and_column_with_the_line() {
    let sandbox = Sandbox::new();
    sandbox.write(
        ".mcp_servers.json",
        "{\n  // comments are fine\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",, }\n  }\n}\n",
    );
    let run = sandbox.run(&[]);
    run.expect_error(1, "CONFIG_INVALID_JSON");
    assert_contains(&run.stderr, "line 4");
    // The line, its values masked (they may be secrets).
    assert_contains(&run.stderr, r#"4 |     "a": {"command": "***",, }"#);
}

#[test]
fn shape_errors_name_the_key() {
    for (config, key) in [
        (json!({"other": {}}), "mcpServers"),
        (json!({"mcpServers": {"a": {"args": []}}}), "mcpServers.a"),
        (
            json!({"mcpServers": {"a": {"command": "x", "url": "http://h"}}}),
            "both",
        ),
        (
            json!({"mcpServers": {"a": {"command": "x", "args": "oops"}}}),
            "mcpServers.a.args",
        ),
        (
            json!({"servers": {"a": {"command": "x", "env": {"K": []}}}}),
            "servers.a.env.K",
        ),
    ] {
        let sandbox = Sandbox::new();
        sandbox.write_config(&config);
        let run = sandbox.run(&[]);
        run.expect_error(1, "CONFIG_INVALID");
        assert!(run.stderr.contains(key), "{key}: {}", run.stderr);
    }
}

#[test]
fn unknown_keys_and_empty_lists_are_warnings() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {}, "extra": 1}));
    let run = sandbox.run(&[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_contains(&run.stderr, "warning");
    assert_contains(&run.stderr, "defines no server");
    assert_contains(&run.stderr, "extra");
}

#[test]
fn bad_settings_are_named() {
    let mut sandbox = Sandbox::with_servers(json!({}));
    sandbox.env("MCP_TIMEOUT", "abc");
    let run = sandbox.run(&[]);
    run.expect_error(1, "INVALID_SETTING");
    assert!(run.stderr.contains("MCP_TIMEOUT"));
    sandbox.env("MCP_TIMEOUT", "5").env("MCP_CONCURRENCY", "0");
    sandbox.run(&[]).expect_error(1, "INVALID_SETTING");
}

#[test]
fn verbs_unknown_and_ambiguous() {
    let sandbox = Sandbox::with_servers(json!({"demo": {"command": "x"}}));
    let run = sandbox.run(&["run", "demo", "echo"]);
    run.expect_error(1, "UNKNOWN_SUBCOMMAND");
    assert_contains(&run.stderr, "mcp-cli call");
    let run = sandbox.run(&["search", "x"]);
    run.expect_error(1, "UNKNOWN_SUBCOMMAND");
    assert_contains(&run.stderr, "mcp-cli grep");
    let run = sandbox.run(&["cal", "demo", "echo", "{}"]);
    run.expect_error(1, "UNKNOWN_SUBCOMMAND");
    assert_contains(&run.stderr, "mcp-cli call");
    let run = sandbox.run(&["lst"]);
    assert_contains(&run.stderr, "mcp-cli list");
    sandbox
        .run(&["demo", "echo"])
        .expect_error(1, "AMBIGUOUS_COMMAND");
    sandbox
        .run(&["demo/echo"])
        .expect_error(1, "AMBIGUOUS_COMMAND");
    sandbox.run(&["call"]).expect_error(1, "MISSING_ARGUMENT");
    sandbox.run(&["--bogus"]).expect_error(1, "UNKNOWN_OPTION");
}

#[test]
fn unknown_server_lists_the_configured_ones() {
    let sandbox =
        Sandbox::with_servers(json!({"alpha": {"command": "x"}, "beta": {"command": "y"}}));
    for args in [
        &["info", "gamma"][..],
        &["call", "gamma", "t"],
        &["call", "gamma/t", "{}"],
    ] {
        let run = sandbox.run(args);
        run.expect_error(1, "SERVER_NOT_FOUND");
        assert_contains(&run.stderr, "alpha, beta");
    }
    // A disabled one is not taken for a typo.
    let sandbox = Sandbox::with_servers(
        json!({"alpha": {"command": "x"}, "off": {"command": "y", "disabled": true}}),
    );
    let run = sandbox.run(&["call", "off", "t"]);
    run.expect_error(1, "SERVER_NOT_FOUND");
    assert_contains(&run.stderr, "Server \"off\" is disabled in config");
    assert_contains(&run.stderr, "remove `\"disabled\": true`");
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let sandbox = Sandbox::with_servers(json!({"alpha": {"command": "x"}}));
    let run = sandbox.run(&["--json", "info", "gamma"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(error["error"], "SERVER_NOT_FOUND");
    assert_eq!(error["exitCode"], 1);
    assert!(error["suggestion"].as_str().unwrap().contains("mcp-cli"));
}

#[test]
fn a_missing_variable_disables_its_server_only() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "s": {"command": "x", "args": ["${MCP_CLI_IT_UNSET_VAR}"]},
        "ok": sandbox.server(&[]),
    }}));
    let run = sandbox.run(&["call", "s", "t", "{}"]);
    run.expect_error(1, "MISSING_ENV_VAR");
    assert!(run.stderr.contains("MCP_CLI_IT_UNSET_VAR") && run.stderr.contains("`s`"));
    assert_eq!(sandbox.run(&["call", "ok", "readonly"]).ok(), "read\n");
    let run = sandbox.run(&[]);
    run.expect_error(1, "MISSING_ENV_VAR");
    assert!(
        run.stdout
            .starts_with("s  (failed: Missing environment variable: ${MCP_CLI_IT_UNSET_VAR}"),
        "{}",
        run.stdout
    );
    assert_contains(&run.stdout, "\nok\n  Instructions: A test server");
    sandbox.env("MCP_STRICT_ENV", "false");
    let run = sandbox.run(&["info", "nope"]);
    run.expect_error(1, "SERVER_NOT_FOUND");
    assert!(run.stderr.contains("warning") && run.stderr.contains("MCP_CLI_IT_UNSET_VAR"));
}

#[test]
fn an_unreachable_http_server_fails_alone() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "remote": {"url": "https://example.invalid/mcp", "headers": {"Authorization": "Bearer ${MCP_CLI_IT_TOKEN:-x}"}},
        "local": sandbox.server(&[]),
    }}));
    let run = sandbox.run(&[]);
    run.expect_error(3, "CONNECTION_FAILED");
    assert!(
        run.stdout.starts_with("remote  (failed: cannot reach server `remote` at https://example.invalid/mcp: the host name `example.invalid` does not resolve)"),
        "{}",
        run.stdout
    );
    assert_contains(&run.stdout, "\nlocal\n  Instructions: A test server");
    sandbox
        .run(&["call", "remote", "t", "{}"])
        .expect_error(3, "CONNECTION_FAILED");
    let sandbox = Sandbox::with_servers(json!({"bad": {"url": "https://h", "type": "stdio"}}));
    sandbox.run(&[]).expect_error(1, "CONFIG_INVALID");
}

/// Runs `script` (which sources the completion script at `$1`) in `shell`,
/// with the directory holding mcp-cli first on PATH, in the sandbox.
fn complete_in(sandbox: &Sandbox, shell: &str, words: &str) -> Vec<String> {
    let script_path = sandbox.path().join(format!("completion.{shell}"));
    let script = sandbox.run(&["completions", shell]).ok().to_owned();
    std::fs::write(&script_path, script).unwrap();
    let driver = match shell {
        // Completion as bash's readline would ask for it.
        "bash" => format!(
            "source \"$1\"; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _mcp_cli; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ),
        // zsh's completion system needs a terminal; its two builtins the
        // script uses print their candidates instead.
        "zsh" => format!(
            "compadd() {{ [[ $1 == -- ]] && shift; print -l -- \"$@\"; }}; \
             _arguments() {{ print -l -- \"$@\"; }}; _files() {{ print FILES; }}; \
             compdef() {{ }}; source \"$1\"; words=({words}); CURRENT=${{#words}}; _mcp_cli"
        ),
        // fish completes a command line itself.
        "fish" => format!(
            "source $argv[-1]; complete -C \"{}\"",
            words.trim_end_matches("''")
        ),
        _ => unreachable!(),
    };
    let path = format!(
        "{}:{}",
        crate::support::mcp_cli().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new(shell)
        .args(["-c", &driver, shell])
        .arg(&script_path)
        .current_dir(sandbox.path())
        .env("PATH", path)
        .env("HOME", sandbox.path())
        .output()
        .unwrap_or_else(|error| {
            panic!("{shell} is needed (tests/servers/install.sh installs it): {error}")
        });
    assert!(output.status.success(), "{shell} {words}: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // fish prints `candidate<TAB>description`.
        .map(|line| line.split('\t').next().unwrap_or(line).to_owned())
        .collect()
}

#[test]
fn completions_offer_verbs_flags_shells_and_servers() {
    let sandbox = Sandbox::with_servers(json!({
        "demo": {"command": "x"},
        "docs": {"command": "y"},
        "my server": {"command": "y"},
        "$(touch pwned)": {"command": "y"},
    }));
    sandbox.write(
        "other.json",
        r#"{"mcpServers": {"elsewhere": {"command": "z"}}}"#,
    );
    assert_eq!(
        sandbox.run(&["__servers"]).ok(),
        "demo\ndocs\nmy server\n$(touch pwned)\n"
    );
    for shell in ["bash", "zsh", "fish"] {
        let has = |words: &str, expected: &[&str], absent: &[&str]| {
            let offered = complete_in(&sandbox, shell, words);
            for word in expected {
                assert!(
                    offered.iter().any(|o| o.contains(word)),
                    "{shell} `{words}`: {word} not in {offered:?}"
                );
            }
            for word in absent {
                assert!(
                    !offered.iter().any(|o| o == word),
                    "{shell} `{words}`: {word} in {offered:?}"
                );
            }
        };
        has(
            "mcp-cli ''",
            &["call", "info", "grep", "completions", "demo", "docs"],
            &[],
        );
        has("mcp-cli call ''", &["demo", "docs"], &["call"]);
        has("mcp-cli -c other.json info ''", &["elsewhere"], &["demo"]);
        has("mcp-cli -cother.json info ''", &["elsewhere"], &["demo"]);
        has(
            "mcp-cli --config=other.json info ''",
            &["elsewhere"],
            &["demo"],
        );
        has("mcp-cli -c ~/other.json info ''", &["elsewhere"], &["demo"]);
        // A name is one candidate, never run: `my server` is one word.
        // (zsh's compadd, stubbed here, filters by prefix itself.)
        let offered: Vec<String> = complete_in(&sandbox, shell, "mcp-cli call my")
            .into_iter()
            .filter(|offered| offered.starts_with("my"))
            .collect();
        assert_eq!(offered.len(), 1, "{shell}: {offered:?}");
        assert!(
            offered[0].contains("my") && offered[0].contains("server"),
            "{shell}: {offered:?}"
        );
        complete_in(&sandbox, shell, "mcp-cli call ''");
        assert!(
            !sandbox.path().join("pwned").exists(),
            "{shell} ran a server's name"
        );
        has(
            "mcp-cli completions ''",
            &["bash", "zsh", "fish"],
            &["demo"],
        );
        has("mcp-cli help ''", &["call", "grep"], &["demo"]);
        has(
            "mcp-cli --",
            &["--json", "--config", "--with-descriptions"],
            &[],
        );
        has("mcp-cli call demo ''", &[], &["demo", "docs"]);
    }
}

/// A config that is a FIFO nobody writes to ends at MCP_TIMEOUT, saying so;
/// one that is written to (as `-c <(...)` is) is read.
#[test]
fn a_config_pipe_is_read_within_the_deadline() {
    let mut sandbox = Sandbox::new();
    let fifo = sandbox.path().join("config.fifo");
    mkfifo(&fifo);
    sandbox.env("MCP_TIMEOUT", "1");
    let run = sandbox.run(&["-c", fifo.to_str().unwrap()]);
    run.expect_error(1, "CONFIG_READ_FAILED")
        .expect_elapsed(..Duration::from_secs(10));
    assert_contains(&run.stderr, "a pipe that did not end within MCP_TIMEOUT");
    assert_contains(&run.stderr, "start what writes the config before mcp-cli");
    let writer = {
        let fifo = fifo.clone();
        let config = json!({"mcpServers": {"demo": sandbox.server(&[])}}).to_string();
        std::thread::spawn(move || std::fs::write(fifo, config).unwrap())
    };
    let run = sandbox.run(&["-c", fifo.to_str().unwrap(), "grep", "echo"]);
    writer.join().unwrap();
    assert_eq!(run.ok(), "demo/echo\n");
    // The wait for the pipe counts against MCP_TIMEOUT: 1.2 s for it, and
    // a server that takes 1.5 s to start, overrun a 2 s deadline.
    sandbox.env("MCP_TIMEOUT", "2");
    let writer = {
        let fifo = fifo.clone();
        let slow = sandbox.server(&["--slow-start", "1500"]);
        let config = json!({"mcpServers": {"demo": slow}}).to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            std::fs::write(fifo, config).unwrap();
        })
    };
    let run = sandbox.run(&["-c", fifo.to_str().unwrap(), "call", "demo", "echo", "{}"]);
    writer.join().unwrap();
    run.expect_error(3, "OPERATION_CANCELLED");
}

/// Ctrl-C ends the wait for a config pipe at once, not when the forced
/// exit's 3 s backstop fires.
#[test]
fn ctrl_c_ends_the_wait_for_a_config_pipe() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path().join("config.fifo");
    mkfifo(&fifo);
    let child = sandbox
        .command(&["-c", fifo.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once its reader thread waits on the pipe: the handlers are in place.
    let tasks = format!("/proc/{}/task", child.id());
    let waiting = crate::support::wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(&tasks).is_ok_and(|tasks| tasks.count() >= 2)
    });
    assert!(waiting, "no reader thread");
    let signalled = std::time::Instant::now();
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let run = crate::support::finish(child);
    run.expect_error(130, "INTERRUPTED");
    let after = signalled.elapsed();
    assert!(after < Duration::from_millis(2500), "took {after:?}");
}

/// A config is read up to 16 MiB: `-c /dev/zero` ends at once.
#[test]
fn an_endless_config_is_refused() {
    let run = Sandbox::new().run(&["-c", "/dev/zero"]);
    run.expect_error(1, "CONFIG_READ_FAILED");
    assert_contains(&run.stderr, "larger than 16 MiB");
}
