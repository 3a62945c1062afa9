//! Security (issue 10): no secret shown, nothing a server sends takes over
//! the terminal, nothing runs without consent, no process outlives us.

use serde_json::json;

use crate::support::{Sandbox, test_server};

/// Secrets planted in every place a config holds one never appear in the
/// output of any verb, human or `--json`, in errors or in debug lines.
#[test]
fn planted_secrets_are_shown_nowhere() {
    let mut sandbox = Sandbox::new();
    let state = sandbox.state().display().to_string();
    let server = test_server().display().to_string();
    sandbox.write_config(&json!({"mcpServers": {
        // A stdio server whose command line and environment hold secrets
        // (sh ignores the words after its script).
        "local": {
            "command": "sh",
            "args": ["-c", "exec \"$0\" --state \"$1\"", server, state,
                     "--api-key", "PLANTED-1", "--token=PLANTED-2",
                     "postgres://user:PLANTED-3@db/x", "--password", "PLANTED-4",
                     "https://h/x?access_token=PLANTED-5"],
            "env": {
                "GITHUB_PAT": "PLANTED-6",
                "DB_PASS": "PLANTED-7",
                "BEARER": "PLANTED-8",
                "DATABASE_URL": "postgres://u:PLANTED-9@h/db",
                "OPENAI_API_KEY": "${MCP_CLI_IT_UNSET:-PLANTED-10}",
                "FROM_VAR": "${MCP_CLI_IT_SECRET}",
                "PLAIN": "visible-value",
            },
        },
        "remote": {
            "url": "https://user:PLANTED-11@example.invalid/${MCP_CLI_IT_SECRET}/mcp?api_key=PLANTED-12",
            "headers": {"Authorization": "Bearer PLANTED-13", "X-Key": "${MCP_CLI_IT_SECRET}"},
        },
    }}));
    sandbox.env("MCP_CLI_IT_SECRET", "PLANTED-SUBSTITUTED");
    let mut seen = String::new();
    let runs: &[&[&str]] = &[
        &[],
        &["-d"],
        &["info"],
        &["info", "local"],
        &["info", "remote"],
        &["local"],
        &["info", "local", "echo"],
        &["grep", "*"],
        &["call", "local", "echo", "{\"text\": \"hi\"}"],
        &["call", "remote", "t", "{}"],
        &["info", "remote", "t"],
        &["call", "local", "nope", "{}"],
    ];
    for debug in ["0", "1"] {
        sandbox.env("MCP_DEBUG", debug);
        for args in runs {
            for json in [false, true] {
                let mut words = Vec::from(*args);
                if json {
                    words.insert(0, "--json");
                }
                let run = sandbox.run(&words);
                seen.push_str(&run.stdout);
                seen.push_str(&run.stderr);
            }
        }
    }
    assert!(
        seen.contains("visible-value"),
        "the plain value is shown: {seen}"
    );
    assert!(
        seen.contains("${MCP_CLI_IT_SECRET}"),
        "references are shown as written"
    );
    assert!(seen.contains("--api-key ***"), "{seen}");
    let shown: Vec<&str> = seen
        .lines()
        .filter(|line| line.contains("PLANTED"))
        .collect();
    assert!(shown.is_empty(), "secrets are shown: {shown:#?}");
}

/// A config syntax error shows the line without its values.
#[test]
fn a_syntax_error_masks_the_values_on_its_line() {
    let sandbox = Sandbox::new();
    sandbox.write(
        ".mcp_servers.json",
        "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"TOKEN\": \"PLANTED\",, }}}}\n",
    );
    let run = sandbox.run(&[]);
    run.expect_error(1, "CONFIG_INVALID_JSON");
    assert!(!run.stderr.contains("PLANTED"), "{}", run.stderr);
    assert!(run.stderr.contains(r#""TOKEN": "***""#), "{}", run.stderr);
    let run = sandbox.run(&["--json"]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains("PLANTED"), "{}", run.stderr);
    assert!(run.stderr.contains("CONFIG_INVALID_JSON"), "{}", run.stderr);
}

/// The raw forms of what `mcp-test-server --hostile` plants.
const PLANTED: &[&str] = &[
    "\x1b[8m", "\x1b]52;", "\x1b]0;", "\rOVER", "\u{9b}", "\x7f", "\u{202e}",
];

/// Runs mcp-cli on a terminal (`script(1)` gives it one for stdin, stdout
/// and stderr) and returns all the terminal received.
fn on_a_terminal(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> String {
    let command = std::iter::once(crate::support::mcp_cli().display().to_string())
        .chain(
            args.iter()
                .map(|arg| format!("'{}'", arg.replace('\'', r"'\''"))),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .envs(sandbox.daemon_env())
        .current_dir(sandbox.path())
        .env("HOME", sandbox.path())
        .env_remove("MCP_DEBUG")
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        script.env(name, value);
    }
    let output = script.output().expect("script(1) from util-linux");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Nothing a hostile server plants in its names, descriptions, messages,
/// progress or stderr reaches a terminal raw, and a name cannot forge a line.
#[test]
fn a_hostile_server_cannot_take_over_the_terminal() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"evil": sandbox.server(&["--hostile"])}}));
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (&[], &[]),
        (&["-d"], &[]),
        (&["grep", "-d", "*"], &[]),
        (&["info", "evil"], &[]),
        (&["info", "-d", "evil"], &[]),
        (&["info", "evil", "echo"], &[]),
        (&["call", "evil", "fail", "{}"], &[]),
        (&["call", "evil", "add", "{}"], &[]),
        (
            &[
                "call",
                "evil",
                "echo",
                r#"{"text": "a\u001b[8mb\rc\u009bd"}"#,
            ],
            &[],
        ),
        // Progress on the terminal for a second and a half.
        (&["call", "evil", "slow", "{\"seconds\": 1.5}"], &[]),
        (
            &["call", "evil", "echo", "{\"text\": \"x\"}"],
            &[("MCP_DEBUG", "1")],
        ),
        (&["call", "evil", "nope", "{}"], &[]),
        (&["--json"], &[]),
        (&["--json", "info", "evil", "echo"], &[]),
        (&["--json", "call", "evil", "fail", "{}"], &[]),
        (
            &[
                "--json",
                "call",
                "evil",
                "echo",
                r#"{"text": "\u009b\u007f\u202e"}"#,
            ],
            &[],
        ),
    ];
    for (args, env) in cases {
        let shown = on_a_terminal(&sandbox, args, env);
        assert!(!shown.trim().is_empty(), "{args:?}: nothing shown");
        for planted in PLANTED {
            assert!(
                !shown.contains(planted),
                "{args:?}: {planted:?} reached the terminal:\n{shown:?}"
            );
        }
    }
    // The escapes show what was sent.
    let shown = on_a_terminal(&sandbox, &["info", "evil"], &[]);
    assert!(shown.contains(r"\e[8mHIDDEN\e[0m\e]52;c;"), "{shown}");
    // `--raw` writes a result as it is, even on a terminal.
    let shown = on_a_terminal(
        &sandbox,
        &[
            "call",
            "--raw",
            "evil",
            "echo",
            r#"{"text": "a\u001b[8mb"}"#,
        ],
        &[],
    );
    assert!(shown.contains("a\x1b[8mb"), "{shown:?}");
    // Piped, a result is data: as it is.
    let run = sandbox.run(&["call", "evil", "echo", r#"{"text": "a\u001b[8mb"}"#]);
    assert_eq!(run.ok(), "a\x1b[8mb\n");
    // One line, one tool: the 9 tools, the hidden one and the forger.
    let listed = sandbox.run(&["grep", "*"]).ok().to_owned();
    assert_eq!(listed.lines().count(), 11, "{listed}");
    assert!(
        !listed.lines().any(|line| line == "other/delete_repo"),
        "{listed}"
    );
    assert!(
        listed.contains(r"'evil/forged\nother/delete_repo'"),
        "{listed}"
    );
    let listed = sandbox.run(&["-d"]).ok().to_owned();
    assert_eq!(
        listed
            .lines()
            .filter(|line| line.starts_with("  • "))
            .count(),
        11
    );
    assert_eq!(listed.lines().count(), 13, "{listed}");
}

/// A cloned folder's `mcp_servers.json` runs nothing until trusted: every
/// verb stops with CONFIG_UNTRUSTED, naming what it would run, and the
/// command it names is never started.
#[test]
fn an_untrusted_project_config_never_runs() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path().join("pwned");
    let project = json!({"mcpServers": {"evil": {
        "command": "sh",
        "args": ["-c", "touch pwned; exec \"$0\"", test_server().display().to_string()],
    }}});
    sandbox.write("mcp_servers.json", &project.to_string());
    for args in [
        &[][..],
        &["-d"],
        &["info"],
        &["info", "evil"],
        &["evil"],
        &["grep", "*"],
        &["call", "evil", "echo", "{\"text\": \"x\"}"],
        &["__servers"],
    ] {
        let run = sandbox.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        if args != ["__servers"] {
            run.expect_error(1, "CONFIG_UNTRUSTED");
            assert!(
                run.stderr.contains("mcp-cli trust mcp_servers.json"),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("it would run evil: sh -c"),
                "{}",
                run.stderr
            );
        }
    }
    assert!(!marker.exists(), "an untrusted config's command ran");
    // Trusted, it runs; changed, it stops again until trusted again.
    let trusted = sandbox.run(&["trust"]);
    assert!(trusted.ok().starts_with("Trusted "), "{trusted:#?}");
    assert!(trusted.ok().contains("evil: sh -c"), "{trusted:#?}");
    assert_eq!(
        sandbox
            .run(&["call", "evil", "echo", "{\"text\": \"x\"}"])
            .ok(),
        "x\n"
    );
    assert!(marker.exists());
    std::fs::remove_file(&marker).unwrap();
    sandbox.write("mcp_servers.json", &format!("{project}\n"));
    let run = sandbox.run(&["call", "evil", "echo", "{\"text\": \"x\"}"]);
    run.expect_error(1, "CONFIG_UNTRUSTED");
    assert!(
        run.stderr.contains("has changed since it was trusted"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists());
    sandbox.run(&["--json", "trust", "mcp_servers.json"]).json();
    assert_eq!(
        sandbox
            .run(&["call", "evil", "echo", "{\"text\": \"y\"}"])
            .ok(),
        "y\n"
    );
    // Naming the file is consent: no trust needed.
    let other = Sandbox::new();
    other.write("mcp_servers.json", &project.to_string());
    assert_eq!(
        other
            .run(&[
                "-c",
                "mcp_servers.json",
                "call",
                "evil",
                "echo",
                "{\"text\": \"z\"}"
            ])
            .ok(),
        "z\n"
    );
}

/// A config file others may write is refused, trusted or named or not.
#[test]
fn a_config_others_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::with_servers(json!({"demo": {"command": "x"}}));
    let user = sandbox.path().join(".mcp_servers.json");
    sandbox.write("named.json", r#"{"mcpServers": {}}"#);
    let named = sandbox.path().join("named.json");
    for mode in [0o664, 0o666, 0o646] {
        std::fs::set_permissions(&user, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = sandbox.run(&["info", "demo"]);
        run.expect_error(1, "CONFIG_INSECURE");
        assert!(run.stderr.contains("chmod go-w"), "{}", run.stderr);
        std::fs::set_permissions(&named, std::fs::Permissions::from_mode(mode)).unwrap();
        sandbox
            .run(&["-c", "named.json"])
            .expect_error(1, "CONFIG_INSECURE");
        sandbox
            .run(&["trust", "named.json"])
            .expect_error(1, "CONFIG_INSECURE");
    }
    std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o644)).unwrap();
    sandbox
        .run(&["info", "nope"])
        .expect_error(1, "SERVER_NOT_FOUND");
    // A FIFO others may write could hand in their config: refused before
    // it is read.
    let fifo = sandbox.path().join("shared.fifo");
    crate::support::mkfifo(&fifo);
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    sandbox
        .run(&["-c", "shared.fifo"])
        .expect_error(1, "CONFIG_INSECURE");
}

/// A trusted project config adds to the user's own; a server of the same
/// name is the project's, with a warning; `info` says where each is from.
#[test]
fn project_and_user_configs_merge() {
    let sandbox = Sandbox::new();
    let user = json!({"mcpServers": {"mine": sandbox.server(&[]), "shared": {"command": "/nonexistent/x"}}});
    sandbox.write_config(&user);
    let project =
        json!({"mcpServers": {"shared": sandbox.server(&[]), "theirs": sandbox.server(&[])}});
    sandbox.write("mcp_servers.json", &project.to_string());
    sandbox.run(&["trust"]).ok();
    let run = sandbox.run(&[]);
    let names: Vec<&str> = run
        .ok()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(names, ["mine", "shared", "theirs"]);
    assert!(
        run.stderr
            .contains("server `shared` of `mcp_servers.json` replaces the one of"),
        "{}",
        run.stderr
    );
    assert!(
        sandbox
            .run(&["info", "shared"])
            .ok()
            .contains("\nConfig: mcp_servers.json\n")
    );
    assert!(
        sandbox
            .run(&["info", "mine"])
            .ok()
            .contains("/.mcp_servers.json\n")
    );
    let info = sandbox.run(&["--json", "info", "theirs"]).json();
    assert_eq!(info["transport"]["config"], "mcp_servers.json");
}

/// The pid a test server recorded for its grandchild.
fn grandchild(sandbox: &Sandbox) -> u32 {
    sandbox
        .log("events.log")
        .iter()
        .find_map(|line| line.strip_prefix("grandchild "))
        .expect("the server recorded its grandchild")
        .parse()
        .unwrap()
}

/// A grandchild that left its server's process group with `setsid` (a
/// daemon) is still stopped when the command ends (Linux: mcp-cli is its
/// subreaper).
#[cfg(target_os = "linux")]
#[test]
fn a_setsid_grandchild_is_gone_after_the_command() {
    use std::time::Duration;
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "demo": sandbox.server(&["--spawn-setsid-grandchild"]),
    }}));
    assert_eq!(
        sandbox
            .run(&["call", "demo", "echo", "{\"text\": \"x\"}"])
            .ok(),
        "x\n"
    );
    let pid = grandchild(&sandbox);
    if sandbox.through_daemon() {
        sandbox.stop_daemon().ok();
    }
    // In a session of its own: out of reach of the server's group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let session = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().nth(3));
    assert!(
        crate::support::wait_for(Duration::from_secs(2), || !crate::support::alive(pid)),
        "the setsid grandchild {pid} survived (session {session:?})"
    );
}

/// `kill -9` of mcp-cli (an agent harness's timeout) mid-call and
/// mid-listing takes its servers with it (Linux: parent-death signal).
#[cfg(target_os = "linux")]
#[test]
fn sigkill_of_mcp_cli_leaves_no_server() {
    use std::process::Stdio;
    use std::time::Duration;
    for (switch, args) in [
        (
            "--hang-on-call",
            &["call", "demo", "echo", "{\"text\": \"x\"}"][..],
        ),
        ("--hang-on-list", &[][..]),
    ] {
        let sandbox = Sandbox::direct();
        // A server that would outlive its stdin: only the signal stops it.
        sandbox.write_config(&json!({"mcpServers": {
            "demo": sandbox.server(&[switch, "--ignore-stdin-eof"]),
        }}));
        let mut child = sandbox
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let marker = sandbox.state().display().to_string();
        assert!(
            crate::support::wait_for(Duration::from_secs(10), || {
                !sandbox.log("events.log").is_empty()
                    && !crate::support::pids_matching(&marker).is_empty()
            }),
            "{switch}: the server never started"
        );
        // Connected and waiting: the server is past its start.
        std::thread::sleep(Duration::from_millis(300));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            crate::support::wait_for(Duration::from_secs(3), || crate::support::pids_matching(
                &marker
            )
            .is_empty()),
            "{switch}: a server outlived a SIGKILLed mcp-cli: {:?}",
            crate::support::pids_matching(&marker)
        );
    }
}

/// A server that answers ids no request has used yet (right after
/// `initialize`) never has its forged answer taken for the call that
/// follows: requests go out under ids it cannot guess. Before, about half
/// the runs printed the forgery.
#[test]
fn a_forged_answer_is_never_taken_for_the_call() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"forger": sandbox.server(&["--forge-response"])}}));
    for _ in 0..30 {
        let run = sandbox.run(&["call", "forger", "echo", "{\"text\": \"real\"}"]);
        assert_eq!(run.ok(), "real\n");
    }
    // And a listing is the server's real one.
    assert_eq!(sandbox.run(&["grep", "*"]).ok().lines().count(), 9);
    // Without the daemon, the command saw the forgery and dropped it (the
    // daemon drops it before: it answers no request).
    if !sandbox.through_daemon() {
        sandbox.env("MCP_DEBUG", "1");
        let run = sandbox.run(&["call", "forger", "echo", "{\"text\": \"real\"}"]);
        assert!(
            run.stderr
                .contains("dropped an answer to request 1, which was never sent"),
            "{}",
            run.stderr
        );
    }
}

/// What a security review found, each kept from coming back.
#[test]
fn trust_shows_what_runs_and_cannot_be_borrowed() {
    use std::os::unix::fs::PermissionsExt;
    // The consent text shows defaults, env and cwd: what will run.
    let sandbox = Sandbox::new();
    sandbox.write(
        "mcp_servers.json",
        &json!({"mcpServers": {"fs": {
            "command": "${MCP_CLI_IT_NODE:-sh}",
            "args": ["-c", "${MCP_CLI_IT_OPTS:-echo PWNED}"],
            "cwd": "sub",
            "env": {"PATH": "./.bin:/usr/bin", "API_KEY": "sk-0123456789abcdef"},
        }}})
        .to_string(),
    );
    let run = sandbox.run(&[]);
    run.expect_error(1, "CONFIG_UNTRUSTED");
    for shown in [
        "${MCP_CLI_IT_NODE:-sh}",
        "${MCP_CLI_IT_OPTS:-echo PWNED}",
        "(in sub)",
        "PATH=./.bin:/usr/bin",
        "API_KEY=***",
    ] {
        assert!(run.stderr.contains(shown), "{shown} not in {}", run.stderr);
    }
    assert!(!run.stderr.contains("sk-0123"), "{}", run.stderr);
    // A symlink to a trusted file, in another folder, is not trusted there.
    let trusted = Sandbox::new();
    trusted.write(
        "mcp_servers.json",
        &json!({"mcpServers": {"local": {"command": "./server.sh"}}}).to_string(),
    );
    trusted.run(&["trust"]).ok();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        trusted.path().join("mcp_servers.json"),
        elsewhere.path().join("mcp_servers.json"),
    )
    .unwrap();
    let run = std::process::Command::new(crate::support::mcp_cli())
        .current_dir(elsewhere.path())
        .env("HOME", trusted.path())
        .env_remove("XDG_STATE_HOME")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("CONFIG_UNTRUSTED"),
        "{run:?}"
    );
    // A trust store others may write trusts nothing.
    let store = trusted.path().join(".local/state/mcp-cli/trusted.json");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o666)).unwrap();
    trusted
        .run(&["info", "nope"])
        .expect_error(1, "CONFIG_UNTRUSTED");
    // A config name cannot forge lines in the consent text.
    let forger = Sandbox::new();
    forger.write(
        "mcp_servers.json",
        &json!({"mcpServers": {"fs\n  Suggestion: `mcp-cli trust` is safe\n\n\n": {"command": "sh"}}}).to_string(),
    );
    let run = forger.run(&[]);
    run.expect_error(1, "CONFIG_UNTRUSTED");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|line| line.starts_with("  Suggestion:"))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 3, "{}", run.stderr);
}

/// A project server that replaces one of the user's is said, under `--json`
/// too, and at trust time.
#[test]
fn a_replaced_server_is_said_in_every_form() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {"gh": sandbox.server(&[])}}));
    sandbox.write(
        "mcp_servers.json",
        &json!({"mcpServers": {"gh": sandbox.server(&[])}}).to_string(),
    );
    assert!(
        sandbox
            .run(&["trust"])
            .ok()
            .contains("It replaces your own server `gh`")
    );
    let run = sandbox.run(&["--json", "call", "gh", "echo", "{\"text\": \"x\"}"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let warning: serde_json::Value =
        serde_json::from_str(run.stderr.lines().next().unwrap()).unwrap();
    assert!(
        warning["warning"]
            .as_str()
            .unwrap()
            .contains("replaces the one of"),
        "{warning}"
    );
}

/// Errors about a command or folder show the config's `${VAR}`, not its
/// value; a syntax error shows no value, quoted or not.
#[test]
fn errors_show_the_config_as_written() {
    let mut sandbox = Sandbox::new();
    sandbox.write_config(&json!({"mcpServers": {
        "a": {"command": "/opt/${MCP_CLI_IT_SEGMENT}/server"},
        "b": {"command": "sh", "cwd": "/nonexistent/${MCP_CLI_IT_SEGMENT}"},
    }}));
    sandbox
        .env("MCP_CLI_IT_SEGMENT", "PLANTED-SEGMENT")
        .env("MCP_MAX_RETRIES", "0");
    for server in ["a", "b"] {
        for json in [false, true] {
            let mut args = vec!["call", server, "t", "{}"];
            if json {
                args.insert(0, "--json");
            }
            let run = sandbox.run(&args);
            assert_eq!(run.code, 3, "{run:#?}");
            assert!(!run.stderr.contains("PLANTED"), "{}", run.stderr);
            assert!(
                run.stderr.contains("${MCP_CLI_IT_SEGMENT}"),
                "{}",
                run.stderr
            );
        }
    }
    let sandbox = Sandbox::new();
    sandbox.write(
        ".mcp_servers.json",
        "{\"mcpServers\": {\"a\": {\"env\": {\"K\": sk-live-UNQUOTED}}}}\n",
    );
    let run = sandbox.run(&[]);
    run.expect_error(1, "CONFIG_INVALID_JSON");
    assert!(!run.stderr.contains("UNQUOTED"), "{}", run.stderr);
}
