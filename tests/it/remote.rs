//! Remote servers: the bundled test server's HTTP front end (with its
//! faults) and server-everything over Streamable HTTP and SSE, all on
//! 127.0.0.1 with ports picked at run time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::support::*;

/// A server listening on 127.0.0.1, stopped on drop.
pub struct Listening {
    child: Child,
    pub url: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test server over HTTP, recording into the sandbox's state.
pub fn http_server(sandbox: &Sandbox, switches: &[&str]) -> Listening {
    let mut child = Command::new(test_server())
        .arg("--http")
        .arg("--state")
        .arg(sandbox.state())
        .args(switches)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the test server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the test server's address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening on URL")
        .to_owned();
    Listening { child, url }
}

/// A free port on 127.0.0.1, for servers that take one (`PORT`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// server-everything in `mode`, once it accepts connections.
pub fn everything(mode: &str) -> Listening {
    let port = free_port();
    let child = Command::new(real_server("node_modules/.bin/mcp-server-everything"))
        .arg(mode)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server-everything");
    let path = if mode == "sse" { "sse" } else { "mcp" };
    let listening = Listening {
        child,
        url: format!("http://127.0.0.1:{port}/{path}"),
    };
    assert!(
        wait_for(std::time::Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "server-everything {mode} did not listen on {port}"
    );
    listening
}

/// The same verbs, over stdio, Streamable HTTP (JSON and event-stream
/// answers) and legacy HTTP+SSE: the same stdout, stderr and exit code.
#[test]
fn every_verb_says_the_same_over_stdio_and_http() {
    // A well-behaved server, one with odd tools and results, and one that
    // plants escape sequences everywhere.
    for switches in [&[][..], &["--odd-results", "--odd-tools"], &["--hostile"]] {
        let sandbox = Sandbox::new();
        let json_answers = http_server(&sandbox, switches);
        let sse_answers = http_server(&sandbox, &[&["--http-sse"][..], switches].concat());
        let legacy = http_server(&sandbox, &[&["--http-legacy"][..], switches].concat());
        let verbs: &[&[&str]] = &[
            &[],
            &["-d"],
            &["--json"],
            &["info", "t"],
            &["--json", "info", "t"],
            &["info", "t", "add"],
            &["grep", "*a*"],
            &["call", "t", "echo", r#"{"text":"héllo"}"#],
            &["--json", "call", "t", "echo", r#"{"text":"héllo"}"#],
            &["call", "t", "add", r#"{"a":1,"b":2}"#],
            &["--json", "call", "t", "add", r#"{"a":1,"b":2}"#],
            &["call", "t", "mixed", "{}"],
            &["call", "t", "fail", "{}"],
            &["--json", "call", "t", "fail", "{}"],
            &["call", "t", "nope", "{}"],
            &["call", "t", "add", r#"{"a":"x"}"#],
        ];
        for verb in verbs {
            let mut runs = Vec::new();
            for server in [
                sandbox.server(switches),
                json!({"url": json_answers.url}),
                json!({"url": json_answers.url, "type": "http"}),
                json!({"url": sse_answers.url}),
                json!({"url": legacy.url, "type": "sse"}),
                // No type: the refused POST falls back to the legacy transport.
                json!({"url": legacy.url}),
            ] {
                sandbox.write_config(&json!({"mcpServers": {"t": server.clone()}}));
                let run = sandbox.run(verb);
                // `info` names the transport; the rest must match.
                let shown = |text: &str| {
                    text.lines()
                        .filter(|line| {
                            ![
                                "Transport:",
                                "Command:",
                                "URL:",
                                "\"transport\"",
                                "\"command\"",
                                "\"url\"",
                            ]
                            .iter()
                            .any(|label| line.trim_start().starts_with(label))
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                runs.push((run.code, shown(&run.stdout), shown(&run.stderr), server));
            }
            for other in &runs[1..] {
                assert_eq!(
                    (&runs[0].0, &runs[0].1, &runs[0].2),
                    (&other.0, &other.1, &other.2),
                    "mcp-cli {verb:?} with {switches:?} over {} and over {}",
                    runs[0].3,
                    other.3
                );
            }
        }
    }
}

/// server-everything over Streamable HTTP and over its legacy SSE
/// endpoint answers as it does over stdio.
#[test]
fn server_everything_over_http_and_sse_answers_as_over_stdio() {
    let http = everything("streamableHttp");
    let sse = everything("sse");
    let sandbox = Sandbox::new();
    let stdio = real_servers(sandbox.path())["everything"].clone();
    let verbs: &[&[&str]] = &[
        &["call", "everything", "echo", r#"{"message":"hi"}"#],
        &[
            "--json",
            "call",
            "everything",
            "get-sum",
            r#"{"a":2,"b":3}"#,
        ],
        &["info", "everything", "echo"],
    ];
    for verb in verbs {
        let mut outputs = Vec::new();
        for server in [
            stdio.clone(),
            json!({"url": http.url}),
            json!({"url": sse.url, "type": "sse"}),
            // No type: the Streamable HTTP attempt falls back to SSE.
            json!({"url": sse.url}),
        ] {
            sandbox.write_config(&json!({"mcpServers": {"everything": server}}));
            let run = sandbox.run(verb);
            let stdout = run.ok().to_owned();
            outputs.push(
                stdout
                    .lines()
                    .filter(|line| {
                        !line.starts_with("Transport:")
                            && !line.starts_with("Command:")
                            && !line.starts_with("URL:")
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        for output in &outputs[1..] {
            assert_eq!(&outputs[0], output, "mcp-cli {verb:?}");
        }
    }
}

#[test]
fn a_401_is_auth_required_with_its_challenge() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "auth"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["call", "t", "echo", r#"{"text":"x"}"#]);
    run.expect_error(4, "AUTH_REQUIRED");
    assert_contains(
        &run.stderr,
        r#"WWW-Authenticate: Bearer realm="mcp-test", error="invalid_token""#,
    );
    // Not transient: asked once.
    let posts = sandbox.log("http.log");
    assert_eq!(posts, ["POST /mcp initialize 401"], "{posts:?}");
}

/// A header's `${VAR}` reaches the server and is shown nowhere, not even
/// in errors, under `--json` or `MCP_DEBUG`.
#[test]
fn a_header_secret_reaches_the_server_and_is_never_shown() {
    let mut sandbox = Sandbox::new();
    let good = http_server(&sandbox, &[]);
    let refusing = http_server(&sandbox, &["--http-fault", "auth"]);
    sandbox.env("MCP_CLI_IT_TOKEN", "s3cr3t-t0ken");
    sandbox.env("MCP_DEBUG", "1");
    let header = json!({"Authorization": "Bearer ${MCP_CLI_IT_TOKEN}"});
    sandbox.write_config(&json!({"mcpServers": {
        "good": {"url": good.url, "headers": header},
        "refusing": {"url": format!("{}?key=${{MCP_CLI_IT_TOKEN}}", refusing.url), "headers": header},
    }}));
    let mut outputs = String::new();
    for args in [
        &["call", "good", "echo", r#"{"text":"x"}"#][..],
        &["info", "good"],
        &["info", "refusing"],
        &["--json", "info", "refusing"],
        &["--json", "call", "refusing", "echo", "{}"],
        &[],
        &["--json"],
    ] {
        let run = sandbox.run(args);
        outputs.push_str(&run.stdout);
        outputs.push_str(&run.stderr);
    }
    assert!(
        sandbox
            .log("http.log")
            .contains(&"authorization Bearer s3cr3t-t0ken".to_owned()),
        "{:?}",
        sandbox.log("http.log")
    );
    assert!(!outputs.contains("s3cr3t"), "{outputs}");
    assert_contains(&outputs, "AUTH_REQUIRED");
}

/// 503 and 429 come before the server takes the request: even a tool with
/// side effects is sent again, after `Retry-After`, and runs once.
#[test]
fn busy_answers_are_retried_after_retry_after_and_the_tool_runs_once() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "status:503:2:1"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["call", "t", "write", r#"{"text":"once"}"#]);
    assert_eq!(run.ok(), "written\n");
    let log = sandbox.log("http.log");
    let busy = log.iter().filter(|line| line.ends_with(" 503")).count();
    assert_eq!(busy, 2, "{log:?}");
    assert_eq!(sandbox.log("calls.log"), ["write"]);
    // Retry-After: 1 was waited for, twice.
    run.expect_elapsed(std::time::Duration::from_secs(2)..);

    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "status:429:9:0"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["call", "t", "write", "{}"]);
    run.expect_error(3, "MAX_RETRIES_EXCEEDED");
    assert_contains(&run.stderr, "HTTP 429");
    assert!(sandbox.log("calls.log").is_empty());
}

/// An expired session (404) is opened anew once, and the request sent
/// again on it: it had not been taken.
#[test]
fn an_expired_session_is_initialized_again() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "expire:1"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["call", "t", "write", "{}"]);
    assert_eq!(run.ok(), "written\n");
    // The daemon ends the session it held when it stops.
    if sandbox.through_daemon() {
        sandbox.stop_daemon().ok();
    }
    let log = sandbox.log("http.log");
    let initialized = log
        .iter()
        .filter(|line| line.contains(" initialize 200"))
        .count();
    assert_eq!(initialized, 2, "{log:?}");
    assert!(
        log.contains(&"POST /mcp tools/call 404".to_owned()),
        "{log:?}"
    );
    assert_eq!(sandbox.log("calls.log"), ["write"]);
    // The session is ended at the end.
    assert_eq!(log.last().map(String::as_str), Some("DELETE /mcp - 200"));
}

/// A stream cut before the answer is resumed with `Last-Event-ID`; the
/// tool ran once.
#[test]
fn a_dropped_event_stream_is_resumed() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-sse", "--http-fault", "drop"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["call", "t", "write", r#"{"text":"x"}"#]);
    assert_eq!(run.ok(), "written\n");
    let log = sandbox.log("http.log");
    assert!(
        log.iter().any(|line| line.starts_with("resume ")),
        "{log:?}"
    );
    assert_eq!(sandbox.log("calls.log"), ["write"]);
}

/// What is not JSON-RPC (a login page, JSON of another kind) is a
/// protocol error, exit 2, saying what came.
#[test]
fn a_body_that_is_not_json_rpc_is_a_protocol_error() {
    for (fault, says) in [
        ("html", "content of type `text/html`"),
        ("junk", r#"it began: {"status":"ok","message":"welcome"}"#),
    ] {
        let sandbox = Sandbox::new();
        let server = http_server(&sandbox, &["--http-fault", fault]);
        sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
        let run = sandbox.run(&["call", "t", "echo", r#"{"text":"x"}"#]);
        run.expect_error(2, "PROTOCOL_ERROR");
        assert_contains(&run.stderr, says);
    }
}

/// Nothing listening: exit 3, the host named, after the retries.
#[test]
fn a_refused_connection_names_the_host() {
    let port = free_port();
    let sandbox =
        Sandbox::with_servers(json!({"t": {"url": format!("http://127.0.0.1:{port}/mcp")}}));
    let run = sandbox.run(&["info", "t"]);
    run.expect_error(3, "MAX_RETRIES_EXCEEDED");
    assert_contains(
        &run.stderr,
        &format!("nothing listens at `127.0.0.1:{port}` (connection refused)"),
    );
    let mut sandbox = sandbox;
    sandbox.env("MCP_MAX_RETRIES", "0");
    sandbox
        .run(&["info", "t"])
        .expect_error(3, "CONNECTION_FAILED");
}

/// A slow answer meets the per-server `timeout` (seconds).
#[test]
fn a_server_timeout_bounds_each_request() {
    let mut sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "slow:5000"]);
    sandbox.env("MCP_MAX_RETRIES", "0");
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url, "timeout": 0.5}}}));
    let run = sandbox.run(&["info", "t"]);
    run.expect_error(3, "TIMEOUT");
    assert_contains(&run.stderr, "after 500ms");
}

#[test]
fn plain_http_to_another_host_is_warned_about() {
    let mut sandbox = Sandbox::with_servers(json!({
        "far": {"url": "http://192.0.2.1:9/mcp", "timeout": 0.2},
    }));
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["info", "far"]);
    assert_contains(&run.stderr, "warning");
    assert_contains(&run.stderr, "plain http://");
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &[]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": server.url}}}));
    let run = sandbox.run(&["info", "t"]);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

/// A URL target and `--stdio` need no config: the command line names the
/// server, `--header` gives it a header, shown nowhere.
#[test]
fn ad_hoc_targets_need_no_config() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &[]);
    let run = sandbox.run(&[
        "call",
        &server.url,
        "echo",
        r#"{"text":"ad hoc"}"#,
        "--header",
        "Authorization: Bearer t0p-s3cret",
    ]);
    assert_eq!(run.ok(), "ad hoc\n");
    assert!(
        sandbox
            .log("http.log")
            .contains(&"authorization Bearer t0p-s3cret".to_owned())
    );
    let run = sandbox.run(&[
        "info",
        &server.url,
        "-H",
        "Authorization: Bearer t0p-s3cret",
    ]);
    assert_contains(run.ok(), &format!("Server: {}", server.url));
    assert!(!run.stdout.contains("t0p-s3cret") && !run.stderr.contains("t0p-s3cret"));

    let command = format!(
        "'{}' --state '{}'",
        test_server().display(),
        sandbox.state().display()
    );
    let run = sandbox.run(&[
        "--stdio",
        &command,
        "call",
        "stdio",
        "add",
        r#"{"a":2,"b":3}"#,
    ]);
    assert_eq!(run.ok(), "5\n");
    sandbox
        .run(&["--stdio", "'unclosed", "info", "stdio"])
        .expect_error(1, "USAGE_ERROR");
    sandbox
        .run(&["info", "--header", "X: y"])
        .expect_error(1, "USAGE_ERROR");
}

/// https with a CA made at run time: not trusted until SSL_CERT_FILE names
/// it; a certificate for another name or past its date is refused, saying
/// which. Not retried: it would fail the same way.
#[test]
fn tls_failures_say_what_failed_and_a_private_ca_works() {
    for (kind, with_ca) in [
        ("ok", "ok"),
        ("name", "is not valid for this host name"),
        ("expired", "has expired"),
    ] {
        let mut sandbox = Sandbox::new();
        let server = http_server(&sandbox, &["--http-tls", kind]);
        assert!(
            server.url.starts_with("https://127.0.0.1:"),
            "{}",
            server.url
        );
        let run = sandbox.run(&["call", &server.url, "echo", r#"{"text":"ok"}"#]);
        run.expect_error(3, "CONNECTION_FAILED");
        assert_contains(&run.stderr, "TLS failed");
        if kind == "ok" {
            assert_contains(&run.stderr, "unknown issuer");
            assert_contains(&run.stderr, "set SSL_CERT_FILE");
        }
        let ca = sandbox.state().join("ca.pem");
        sandbox.env("SSL_CERT_FILE", ca.to_str().unwrap());
        let run = sandbox.run(&["call", &server.url, "echo", r#"{"text":"ok"}"#]);
        if kind == "ok" {
            assert_eq!(run.ok(), "ok\n");
        } else {
            run.expect_error(3, "CONNECTION_FAILED");
            assert_contains(&run.stderr, with_ca);
        }
        // Refused at the handshake: no request reached the server.
        let requests = sandbox.log("http.log");
        assert_eq!(
            requests.len(),
            usize::from(kind == "ok") * 5,
            "{requests:?}"
        );
    }
}

/// HTTP_PROXY is honoured (the test server stands in for the proxy), and
/// NO_PROXY exempts a host from it.
#[test]
fn http_proxy_and_no_proxy_are_honoured() {
    let mut sandbox = Sandbox::new();
    let proxy = http_server(&sandbox, &[]);
    let origin = proxy.url.trim_end_matches("/mcp").to_owned();
    sandbox.env("HTTP_PROXY", &origin);
    sandbox.env("MCP_MAX_RETRIES", "0");
    let far = "http://mcp.example.invalid:8931/mcp";
    let run = sandbox.run(&["call", far, "echo", r#"{"text":"via proxy"}"#]);
    assert_eq!(run.ok(), "via proxy\n");
    assert!(
        sandbox
            .log("http.log")
            .contains(&"proxied mcp.example.invalid:8931".to_owned()),
        "{:?}",
        sandbox.log("http.log")
    );
    sandbox.env("NO_PROXY", "example.invalid");
    sandbox
        .run(&["call", far, "echo", r#"{"text":"direct"}"#])
        .expect_error(3, "CONNECTION_FAILED");
}

/// A server on this machine is reached directly, whatever the proxy
/// settings: a proxy's loopback is not this machine's.
#[test]
fn a_loopback_server_bypasses_the_proxy() {
    let mut sandbox = Sandbox::new();
    let server = http_server(&sandbox, &[]);
    sandbox.env("HTTP_PROXY", "http://proxy.example.invalid:3128");
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&["call", &server.url, "echo", r#"{"text":"direct"}"#]);
    assert_eq!(run.ok(), "direct\n");
}

/// A redirect is followed within the URL's origin only: the headers
/// (credentials) never go to another host.
#[test]
fn redirects_stay_within_the_origin() {
    let sandbox = Sandbox::new();
    let same = http_server(&sandbox, &["--http-fault", "redirect:/moved"]);
    let header = ["-H", "Authorization: Bearer s3cret"];
    let run = sandbox.run(
        &[
            &["call", &same.url, "echo", r#"{"text":"moved"}"#][..],
            &header,
        ]
        .concat(),
    );
    assert_eq!(run.ok(), "moved\n");
    assert!(
        sandbox
            .log("http.log")
            .contains(&"POST /moved initialize 200".to_owned())
    );

    let sandbox = Sandbox::new();
    let target = http_server(&sandbox, &[]);
    // Another origin: localhost, not 127.0.0.1.
    let elsewhere = target
        .url
        .replace("127.0.0.1", "localhost")
        .replace("/mcp", "/moved");
    let away = http_server(
        &sandbox,
        &["--http-fault", &format!("redirect:{elsewhere}")],
    );
    let mut sandbox = sandbox;
    sandbox.env("MCP_MAX_RETRIES", "0");
    let run = sandbox.run(&[&["call", &away.url, "echo", r#"{"text":"x"}"#][..], &header].concat());
    run.expect_error(2, "HTTP_ERROR");
    assert_contains(&run.stderr, "HTTP 307");
    assert_contains(&run.stderr, "within the URL's origin");
    let log = sandbox.log("http.log");
    assert!(!log.iter().any(|line| line.contains("/moved")), "{log:?}");
    assert!(!log.iter().any(|line| line.contains("s3cret")), "{log:?}");
}

/// A legacy server's `endpoint` on another origin is refused: messages,
/// and the headers with them, go nowhere but where the stream came from.
#[test]
fn a_legacy_endpoint_on_another_origin_is_refused() {
    let mut sandbox = Sandbox::new();
    let elsewhere = http_server(&sandbox, &["--http-legacy"]);
    let other = elsewhere
        .url
        .replace("127.0.0.1", "localhost")
        .replace("/sse", "/messages?session=s1");
    let legacy = http_server(
        &sandbox,
        &[
            "--http-legacy",
            "--http-fault",
            &format!("endpoint:{other}"),
        ],
    );
    sandbox.env("MCP_MAX_RETRIES", "0");
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": legacy.url, "type": "sse"}}}));
    let run = sandbox.run(&["call", "t", "echo", r#"{"text":"x"}"#]);
    run.expect_error(2, "PROTOCOL_ERROR");
    assert_contains(&run.stderr, "points to another origin");
    let log = sandbox.log("http.log");
    assert!(!log.iter().any(|line| line.starts_with("POST")), "{log:?}");
}

/// A URL on the command line is shown with its secrets masked, alone it
/// means `info`, and what contradicts it is refused before anything runs.
#[test]
fn a_url_target_keeps_its_secrets_and_refuses_contradictions() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_MAX_RETRIES", "0");
    let server = http_server(&sandbox, &[]);
    let secret = server
        .url
        .replace("http://", "http://user:hunter2@")
        .replace("/mcp", "/mcp?api_key=SECRETVALUE");
    for args in [
        &["info", &secret][..],
        &[&secret],
        &["--json", "call", &secret, "echo", r#"{"text":"x"}"#],
        &[
            "call",
            &secret.replace("127.0.0.1", "127.0.0.1.invalid"),
            "echo",
            "{}",
        ],
        &[
            "-H",
            "Authorization Bearer sk-T0KEN",
            "call",
            &secret,
            "echo",
            "{}",
        ],
        &["-H", ": sk-T0KEN", "call", &secret, "echo", "{}"],
    ] {
        let run = sandbox.run(args);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !all.contains("hunter2") && !all.contains("SECRETVALUE"),
            "{args:?}: {all}"
        );
        assert!(!all.contains("T0KEN"), "{args:?}: {all}");
    }
    assert_contains(
        sandbox.run(&[&server.url]).ok(),
        &format!("Server: {}", server.url),
    );
    sandbox
        .run(&["call", &server.url, r#"{"text":"x"}"#])
        .expect_error(1, "USAGE_ERROR");
    sandbox
        .run(&["-c", "x.json", "info", &server.url])
        .expect_error(1, "USAGE_ERROR");
    sandbox
        .run(&["--stdio", "cat", "info", &server.url])
        .expect_error(1, "USAGE_ERROR");
    sandbox
        .run(&["--stdio", "FOO=1 cat", "info", "stdio"])
        .expect_error(1, "USAGE_ERROR");
}

/// The legacy transport is tried only when the config leaves `type` out;
/// when that fails too, the Streamable HTTP failure is the one reported.
#[test]
fn the_legacy_fallback_follows_the_type() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_MAX_RETRIES", "0");
    let legacy = http_server(&sandbox, &["--http-legacy"]);
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": legacy.url, "type": "http"}}}));
    sandbox.run(&["info", "t"]).expect_error(2, "HTTP_ERROR");
    assert!(
        !sandbox
            .log("http.log")
            .iter()
            .any(|line| line.starts_with("GET"))
    );
    // No legacy endpoint either: the POST's 404 is what is said.
    let modern = http_server(&sandbox, &[]);
    let wrong = modern.url.replace("/mcp", "/wrong");
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": wrong}}}));
    let run = sandbox.run(&["info", "t"]);
    run.expect_error(2, "HTTP_ERROR");
    assert_contains(&run.stderr, "HTTP 404");
    assert!(
        sandbox
            .log("http.log")
            .contains(&"GET /wrong - 404".to_owned())
    );
}

/// What would fail every connection the same way is refused where it is
/// written; an answer that cannot be read fails its request at once.
#[test]
fn bad_urls_headers_and_answers_fail_at_once() {
    let mut sandbox = Sandbox::new();
    sandbox.env("MCP_MAX_RETRIES", "0");
    sandbox.write_config(&json!({"mcpServers": {"t": {"url": "http://127.0.0.1:99999/mcp"}}}));
    sandbox
        .run(&["info", "t"])
        .expect_error(1, "CONFIG_INVALID");
    sandbox.write_config(&json!({"mcpServers": {"t": {
        "url": "http://127.0.0.1:9/mcp", "headers": {"Content-Length": "5"},
    }}}));
    sandbox
        .run(&["info", "t"])
        .expect_error(1, "CONFIG_INVALID");
    sandbox
        .run(&["info", "http://[::1"])
        .expect_error(1, "USAGE_ERROR");
    sandbox
        .run(&["info", "http://127.0.0.1:9/mcp", "-H", "Host: elsewhere"])
        .expect_error(1, "USAGE_ERROR");
    // Over legacy SSE too, as over stdio: no wait for the deadline.
    let legacy = http_server(&sandbox, &["--http-legacy", "--bad-answer", "nan"]);
    sandbox.env("MCP_TIMEOUT", "20");
    let run = sandbox.run(&["call", &legacy.url, "echo", r#"{"text":"x"}"#]);
    run.expect_error(2, "PROTOCOL_ERROR")
        .expect_elapsed(..std::time::Duration::from_secs(10));
    assert_contains(&run.stderr, "cannot be read");
}

/// A server that closes its event stream as soon as it opens, with
/// `retry: 0`, gets it reopened at most four times a second, not in a
/// busy loop.
#[test]
fn event_streams_are_not_reopened_in_a_busy_loop() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "loopget"]);
    let run = sandbox.run(&["call", &server.url, "slow", r#"{"seconds":1}"#]);
    assert_eq!(run.ok(), "slept 1 s\n");
    let log = sandbox.log("http.log");
    let gets = log.iter().filter(|line| line.starts_with("GET")).count();
    assert!((1..=8).contains(&gets), "{gets} GETs: {log:?}");
}

/// Plain http reads no certificate: a certificate file that would block
/// whoever reads it (a FIFO nobody writes) does not hold up an http call.
#[test]
fn plain_http_loads_no_tls_roots() {
    let mut sandbox = Sandbox::new();
    let server = http_server(&sandbox, &[]);
    let fifo = sandbox.path().join("roots.fifo");
    mkfifo(&fifo);
    let dir = sandbox.path().to_str().unwrap().to_owned();
    sandbox.env("SSL_CERT_FILE", fifo.to_str().unwrap());
    sandbox.env("SSL_CERT_DIR", &dir);
    sandbox.env("MCP_TIMEOUT", "10");
    let run = sandbox.run(&["call", &server.url, "echo", r#"{"text":"no tls"}"#]);
    assert_eq!(run.ok(), "no tls\n");
}

/// A 502 or 504 from a gateway may come after the server took the call:
/// a tool with side effects is not sent again, a read-only one is.
#[test]
fn a_gateway_error_on_a_call_is_retried_only_when_the_tool_allows() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "status:502:1::tools/call"]);
    let run = sandbox.run(&["call", &server.url, "write", "{}"]);
    run.expect_error(3, "HTTP_ERROR");
    assert_contains(&run.stderr, "HTTP 502");
    let calls = |sandbox: &Sandbox| {
        sandbox
            .log("http.log")
            .iter()
            .filter(|line| line.contains(" tools/call "))
            .count()
    };
    assert_eq!(calls(&sandbox), 1);

    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "status:504:1::tools/call"]);
    let run = sandbox.run(&["call", &server.url, "readonly", "{}"]);
    assert_eq!(run.ok(), "read\n");
    assert_eq!(calls(&sandbox), 2);
}

/// A connection that drops after the server took the call: the tool ran,
/// and runs no second time unless it says it may.
#[test]
fn a_call_dropped_after_it_was_taken_is_not_sent_again() {
    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "reset:tools/call"]);
    let run = sandbox.run(&["call", &server.url, "write", "{}"]);
    run.expect_error(3, "CONNECTION_CLOSED");
    assert_contains(&run.stderr, "may have run");
    assert_eq!(sandbox.log("calls.log"), ["write"]);

    let sandbox = Sandbox::new();
    let server = http_server(&sandbox, &["--http-fault", "reset:tools/call"]);
    let run = sandbox.run(&["call", &server.url, "readonly", "{}"]);
    run.expect_error(3, "MAX_RETRIES_EXCEEDED");
    assert_eq!(
        sandbox.log("calls.log").len(),
        4,
        "{:?}",
        sandbox.log("calls.log")
    );
}
