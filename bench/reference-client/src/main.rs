//! The least an MCP client can do over stdio: the benchmark's baseline.
//!
//! `mcp-reference-client call TOOL JSON -- COMMAND ARGS...` spawns the
//! server, sends `initialize`, `notifications/initialized` and one
//! `tools/call`, prints the response line, kills the server and exits.
//! `mcp-reference-client list -- COMMAND ARGS...` does the same with
//! `tools/list` and kills the server right after the answer. No JSON
//! parsing, no timeouts, no error handling beyond exiting 1: whatever
//! mcp-cli spends beyond this is its own overhead.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|arg| arg == "--")
        .expect("usage: see the source");
    let (mode, server) = (&args[..split], &args[split + 1..]);
    let request = match mode {
        [verb, tool, json] if verb == "call" => format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{tool}","arguments":{json}}}}}"#
        ),
        [verb] if verb == "list" => {
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#.to_owned()
        }
        _ => panic!("usage: call TOOL JSON -- CMD... | list -- CMD..."),
    };
    let mut child = Command::new(&server[0])
        .args(&server[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |id: &str| loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(id) => return line,
            Some(Ok(_)) => continue,
            _ => std::process::exit(1),
        }
    };
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"reference","version":"0"}}}"#;
    writeln!(stdin, "{initialize}").unwrap();
    wait_for(r#""id":1"#);
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, "{request}").unwrap();
    let response = wait_for(r#""id":2"#);
    println!("{response}");
    let _ = child.kill();
    let _ = child.wait();
}
