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
    let shown: Vec<&str> = seen.lines().filter(|line| line.contains("PLANTED")).collect();
    assert!(shown.is_empty(), "secrets are shown: {shown:#?}");
}

/// A config syntax error shows the line without its values.
#[test]
fn a_syntax_error_masks_the_values_on_its_line() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "mcp_servers.json",
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
