//! Real servers from npm and PyPI: everything, filesystem and time.

use serde_json::json;

use crate::support::{Sandbox, raw_tool_names, real_server, real_servers};

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("notes.txt", "hello from a real file\n");
    sandbox.write_config(&json!({ "mcpServers": real_servers(sandbox.path()) }));
    sandbox
}

#[test]
fn listing_shows_every_tool_each_server_lists() {
    let sandbox = sandbox();
    let root = sandbox.path().display().to_string();
    let expected = [
        (
            "everything",
            raw_tool_names(
                &real_server("node_modules/.bin/mcp-server-everything"),
                &["stdio"],
            ),
        ),
        (
            "filesystem",
            raw_tool_names(
                &real_server("node_modules/.bin/mcp-server-filesystem"),
                &[&root],
            ),
        ),
        (
            "time",
            raw_tool_names(&real_server(".venv/bin/mcp-server-time"), &[]),
        ),
    ];
    let listing = sandbox.run(&["--json"]).json();
    for (index, (name, tools)) in expected.iter().enumerate() {
        let server = &listing["servers"][index];
        assert_eq!(server["name"], *name);
        let listed: Vec<&str> = server["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap())
            .collect();
        assert!(!tools.is_empty());
        assert_eq!(&listed, tools, "{name}");
    }
    let text = sandbox.run(&[]).ok().to_owned();
    assert!(text.starts_with("everything\n"), "{text}");
    assert!(text.contains("\nfilesystem\n") && text.contains("\ntime\n  • get_current_time\n"));
}

#[test]
fn info_grep_and_call_on_real_servers() {
    let sandbox = sandbox();
    let info = sandbox.run(&["info", "everything", "echo"]).ok().to_owned();
    assert!(
        info.contains("\"message\"") && info.contains("Input Schema:"),
        "{info}"
    );
    assert_eq!(
        sandbox.run(&["grep", "*time*"]).ok(),
        "time/get_current_time\ntime/convert_time\n"
    );
    let now = sandbox.run(&["call", "time", "get_current_time", r#"{"timezone":"UTC"}"#]);
    assert!(now.ok().contains("\"timezone\": \"UTC\""), "{}", now.stdout);
    let piped = sandbox.run_with_stdin(&["call", "time/get_current_time"], r#"{"timezone":"UTC"}"#);
    assert!(piped.ok().contains("datetime"), "{}", piped.stdout);
    let result = sandbox
        .run(&[
            "--json",
            "call",
            "time",
            "get_current_time",
            r#"{"timezone":"UTC"}"#,
        ])
        .json();
    assert_eq!(result["structuredContent"]["timezone"], "UTC");
    let echo = sandbox.run(&["call", "everything", "echo", r#"{"message":"hi"}"#]);
    assert_eq!(echo.ok(), "Echo: hi\n");
    let file = sandbox.run(&[
        "call",
        "filesystem",
        "read_text_file",
        &json!({"path": sandbox.path().join("notes.txt")}).to_string(),
    ]);
    assert_eq!(file.ok(), "hello from a real file\n");
    // A real server's refusal: a path outside the allowed directory.
    let denied = sandbox.run(&[
        "call",
        "filesystem",
        "read_text_file",
        r#"{"path":"/etc/hostname"}"#,
    ]);
    denied.expect_error(2, "TOOL_ERROR");
    let bad_zone = sandbox.run(&[
        "call",
        "time",
        "get_current_time",
        r#"{"timezone":"Mars/Olympus"}"#,
    ]);
    assert_eq!(bad_zone.code, 2, "{bad_zone:#?}");
}

#[test]
fn progress_from_a_real_server_keeps_a_long_call_alive() {
    let mut sandbox = sandbox();
    // Progress every 0.5 s over 2 s, under a 1 s per-request timeout.
    sandbox.env("MCP_REQUEST_TIMEOUT", "1");
    let run = sandbox.run(&[
        "call",
        "everything",
        "trigger-long-running-operation",
        r#"{"duration": 2, "steps": 4}"#,
    ]);
    assert_eq!(
        run.ok(),
        "Long running operation completed. Duration: 2 seconds, Steps: 4.\n"
    );
}
