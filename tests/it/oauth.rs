//! OAuth against the test server's own authorization server (`--http-fault
//! oauth:TTL`): login through a stand-in browser that follows the redirect
//! to mcp-cli's listener on 127.0.0.1, tokens kept private, refreshed once
//! when they expire (one process at a time, the refresh token rotating),
//! a revoked refresh token, a forged `state`, the client credentials grant,
//! and no token, code or secret in any output. The conformance suite's
//! auth scenarios run in `tests/conformance`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::remote::http_server;
use crate::support::*;

/// A sandbox whose server `s` is the test server behind its own
/// authorization server, tokens living `ttl` seconds; the "browser" is the
/// conformance suite's stand-in.
fn oauth_sandbox(ttl: u64, kind: Option<&str>) -> (Sandbox, crate::remote::Listening) {
    let mut sandbox = Sandbox::new();
    let fault = match kind {
        Some(kind) => format!("oauth:{ttl}:{kind}"),
        None => format!("oauth:{ttl}"),
    };
    let server = http_server(&sandbox, &["--http-fault", &fault]);
    sandbox.write_config(&json!({ "mcpServers": { "s": { "url": server.url } } }));
    sandbox.env(
        "BROWSER",
        &repo()
            .join("tests/conformance/browser.sh")
            .display()
            .to_string(),
    );
    (sandbox, server)
}

/// The token files (the lock files aside).
fn token_files(sandbox: &Sandbox) -> Vec<PathBuf> {
    let dir = sandbox.path().join(".local/state/mcp-cli/oauth");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Asserts that no token, code or secret (`tok-`) is in `text`.
#[track_caller]
fn no_secret(text: &str) {
    assert!(
        !text.contains("tok-"),
        "a token or secret is shown:\n{text}"
    );
}

fn grants(sandbox: &Sandbox, grant: &str) -> usize {
    sandbox
        .log("http.log")
        .iter()
        .filter(|line| line.starts_with(&format!("token {grant} ")))
        .count()
}

#[test]
fn login_once_then_every_verb_works_and_logout_forgets() {
    let (sandbox, _server) = oauth_sandbox(3600, None);
    // No token: AUTH_REQUIRED, naming the command that logs in.
    let refused = sandbox.run(&["call", "s", "echo", r#"{"text":"hi"}"#]);
    refused.expect_error(4, "AUTH_REQUIRED");
    assert_contains(&refused.stderr, "mcp-cli auth s");
    let login = sandbox.run(&["auth", "s"]);
    assert_eq!(login.code, 0, "{login:#?}");
    assert_contains(&login.stderr, "http://127.0.0.1:");
    assert_contains(&login.stderr, "Logged in to `s`");
    no_secret(&login.stderr);
    assert!(login.stdout.is_empty(), "{login:#?}");
    // Registered, authorized and exchanged once.
    assert_eq!(grants(&sandbox, "authorization_code"), 1);
    // Kept private: 0600 in 0700.
    let files = token_files(&sandbox);
    assert_eq!(files.len(), 1, "{files:?}");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(files[0].parent().unwrap()), 0o700);
    // Every verb now just works.
    let called = sandbox.run(&["call", "s", "echo", r#"{"text":"hi"}"#]);
    assert_eq!(called.ok().trim(), "hi");
    sandbox.run(&["info", "s"]).ok();
    sandbox.run(&["grep", "ech*"]).ok();
    sandbox.run(&["list"]).ok();
    let debug = sandbox.run_with_env(
        &["call", "s", "echo", r#"{"text":"hi"}"#],
        &[("MCP_DEBUG", "1")],
    );
    debug.ok();
    no_secret(&debug.stderr);
    // The status says what is kept, never a token.
    let status = sandbox.run(&["auth", "--status"]);
    assert_contains(status.ok(), "logged in");
    assert_contains(&status.stdout, "refreshable");
    no_secret(&status.stdout);
    let status = sandbox.run(&["--json", "auth", "--status"]).json();
    assert_eq!(status["servers"][0]["server"], "s");
    no_secret(&status.to_string());
    // Logged out: the file is gone, the verbs need a login again.
    let logout = sandbox.run(&["auth", "--logout", "s"]);
    assert_eq!(logout.code, 0, "{logout:#?}");
    assert!(token_files(&sandbox).is_empty());
    sandbox
        .run(&["call", "s", "echo", r#"{"text":"hi"}"#])
        .expect_error(4, "AUTH_REQUIRED");
    // The daemon's log, when there is one, holds no token either.
    let log = std::fs::read_to_string(sandbox.path().join(".local/state/mcp-cli/daemon.log"))
        .unwrap_or_default();
    no_secret(&log);
}

#[test]
fn an_expired_token_is_refreshed_once_by_one_process_at_a_time() {
    // Tokens live 3 s (rmcp refreshes within half a life of the end,
    // counted in whole seconds): past 3 s, one is surely due.
    let (sandbox, _server) = oauth_sandbox(3, None);
    sandbox.run(&["auth", "s"]).ok();
    sandbox.run(&["call", "s", "echo", r#"{"text":"a"}"#]).ok();
    assert_eq!(grants(&sandbox, "refresh_token"), 0);
    std::thread::sleep(Duration::from_millis(3200));
    // Four processes at once find it due: each refresh token works once,
    // so a refresh that lost the race would fail, and leave no working one.
    let children: Vec<_> = (0..4)
        .map(|n| {
            sandbox
                .command(&["call", "s", "echo", &format!(r#"{{"text":"{n}"}}"#)])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (n, child) in children.into_iter().enumerate() {
        let run = finish(child);
        assert_eq!(run.ok().trim(), n.to_string());
        no_secret(&run.stderr);
    }
    // One refresh through the daemon's session; without it, each process
    // refreshes in turn, under the lock, with the refresh token the one
    // before it got.
    let refreshes = grants(&sandbox, "refresh_token");
    assert!(
        (1..=4).contains(&refreshes),
        "{refreshes} refreshes: {:?}",
        sandbox.log("http.log")
    );
    if sandbox.through_daemon() {
        assert_eq!(refreshes, 1, "{:?}", sandbox.log("http.log"));
    }
    let failed = sandbox
        .log("http.log")
        .iter()
        .filter(|line| line.starts_with("token refresh_token 400"))
        .count();
    assert_eq!(failed, 0, "{:?}", sandbox.log("http.log"));
    // What is kept still works after the next expiry.
    std::thread::sleep(Duration::from_millis(3200));
    sandbox.run(&["call", "s", "echo", r#"{"text":"b"}"#]).ok();
    assert_eq!(
        grants(&sandbox, "authorization_code"),
        1,
        "one login in all"
    );
}

#[test]
fn a_revoked_refresh_token_means_logging_in_again() {
    let (sandbox, _server) = oauth_sandbox(2, None);
    sandbox.run(&["auth", "s"]).ok();
    std::fs::write(sandbox.state().join("revoked"), "").unwrap();
    std::thread::sleep(Duration::from_millis(2200));
    let refused = sandbox.run(&["call", "s", "echo", r#"{"text":"hi"}"#]);
    refused.expect_error(4, "AUTH_REQUIRED");
    assert_contains(&refused.stderr, "mcp-cli auth s");
    no_secret(&refused.stderr);
    assert_eq!(
        sandbox
            .log("http.log")
            .iter()
            .filter(|line| line.starts_with("token refresh_token"))
            .count(),
        1,
        "refused once, not asked again: {:?}",
        sandbox.log("http.log")
    );
    // The refused token is forgotten: the status says to log in.
    let status = sandbox.run(&["auth", "--status"]);
    assert_contains(status.ok(), "log in again");
}

#[test]
fn token_files_open_to_others_are_refused() {
    let (sandbox, _server) = oauth_sandbox(3600, None);
    sandbox.run(&["auth", "s"]).ok();
    let file = token_files(&sandbox).remove(0);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = sandbox.run(&["call", "s", "echo", r#"{"text":"hi"}"#]);
    refused.expect_error(4, "AUTH_FAILED");
    assert_contains(&refused.stderr, "open to others");
    no_secret(&refused.stderr);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = file.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    sandbox
        .run(&["call", "s", "echo", r#"{"text":"hi"}"#])
        .expect_error(4, "AUTH_FAILED");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    sandbox.run(&["call", "s", "echo", r#"{"text":"hi"}"#]).ok();
}

#[test]
fn a_forged_state_is_refused_and_the_login_waits_on() {
    let (mut sandbox, _server) = oauth_sandbox(3600, Some("badstate"));
    // Anything on this machine can reach the listener: a request with
    // another `state` is refused, and the wait goes on to the deadline.
    sandbox.env("MCP_TIMEOUT", "4");
    let login = sandbox.run(&["auth", "s"]);
    login.expect_error(3, "OPERATION_CANCELLED");
    assert_contains(&login.stderr, "another login's `state` was refused");
    no_secret(&login.stderr);
    assert_eq!(
        grants(&sandbox, "authorization_code"),
        0,
        "the code was not used"
    );
    sandbox.env("MCP_TIMEOUT", "30");
    sandbox
        .run(&["call", "s", "echo", r#"{"text":"hi"}"#])
        .expect_error(4, "AUTH_REQUIRED");
}

#[test]
fn the_browser_outlives_the_login() {
    let (mut sandbox, _server) = oauth_sandbox(3600, None);
    // A browser that stays open once the page is loaded.
    let pid_file = sandbox.path().join("browser.pid");
    sandbox.write(
        "browser.sh",
        &format!(
            "#!/bin/sh\necho $$ > '{}'\n'{}' \"$1\"\nexec sleep 30\n",
            pid_file.display(),
            repo().join("tests/conformance/browser.sh").display()
        ),
    );
    let browser = sandbox.path().join("browser.sh");
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    sandbox.env("BROWSER", &browser.display().to_string());
    sandbox.run(&["auth", "s"]).ok();
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = alive(pid);
    // SAFETY: a plain signal to the test's own child's child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(alive, "mcp-cli auth stopped the browser it opened");
}

#[test]
fn a_machine_gets_its_tokens_itself_and_again_when_they_expire() {
    let (sandbox, server) = oauth_sandbox(2, None);
    sandbox.write_config(&json!({ "mcpServers": { "s": {
        "url": server.url,
        "oauth": { "grant": "client_credentials", "clientId": "ci", "clientSecret": "${CI_SECRET}" }
    } } }));
    // No browser, no login: the verb gets a token.
    let run = sandbox.run_with_env(
        &["call", "s", "echo", r#"{"text":"hi"}"#],
        &[("CI_SECRET", "tok-SECRET"), ("BROWSER", "false")],
    );
    assert_eq!(run.ok().trim(), "hi");
    no_secret(&run.stderr);
    assert_eq!(grants(&sandbox, "client_credentials"), 1);
    std::thread::sleep(Duration::from_millis(2200));
    let run = sandbox.run_with_env(
        &["call", "s", "echo", r#"{"text":"again"}"#],
        &[("CI_SECRET", "tok-SECRET")],
    );
    assert_eq!(run.ok().trim(), "again");
    assert_eq!(grants(&sandbox, "client_credentials"), 2);
    assert_eq!(grants(&sandbox, "authorization_code"), 0);
    // A wrong secret, once the token has expired: refused by the server,
    // and said so, the secret unshown.
    std::thread::sleep(Duration::from_millis(2200));
    let run = sandbox.run_with_env(
        &["call", "s", "echo", r#"{"text":"hi"}"#],
        &[("CI_SECRET", "tok-WRONG")],
    );
    assert_eq!(run.code, 4, "{run:#?}");
    no_secret(&run.stderr);
}

#[test]
fn a_server_that_asks_for_no_token_has_nothing_to_log_in_to() {
    let mut sandbox = Sandbox::new();
    let server = http_server(&sandbox, &[]);
    sandbox.write_config(&json!({ "mcpServers": { "s": { "url": server.url } } }));
    sandbox.env("BROWSER", "false");
    let login = sandbox.run(&["auth", "s"]);
    login.expect_error(4, "AUTH_FAILED");
    assert_contains(&login.stderr, "nothing to log in to");
    assert!(token_files(&sandbox).is_empty());
}

#[test]
fn a_key_file_is_read_when_used_not_when_the_config_loads() {
    let (sandbox, server) = oauth_sandbox(3600, None);
    // A FIFO would hang a read; a missing file would fail every command.
    mkfifo(&sandbox.path().join("key.pem"));
    sandbox.write_config(&json!({ "mcpServers": {
        "s": { "url": server.url },
        "m": { "url": server.url, "oauth": {
            "grant": "client_credentials", "clientId": "ci", "privateKeyFile": "key.pem"
        } },
        "gone": { "url": server.url, "oauth": {
            "grant": "client_credentials", "clientId": "ci", "privateKeyFile": "missing.pem"
        } }
    } }));
    sandbox.run(&["auth", "--status"]).ok();
    sandbox.run(&["info", "s"]).expect_error(4, "AUTH_REQUIRED");
    let used = sandbox.run(&["call", "m", "echo", r#"{"text":"hi"}"#]);
    used.expect_error(4, "AUTH_FAILED");
    assert_contains(&used.stderr, "not a plain file");
    let missing = sandbox.run(&["call", "gone", "echo", r#"{"text":"hi"}"#]);
    missing.expect_error(4, "AUTH_FAILED");
    assert_contains(&missing.stderr, "missing.pem");
}
