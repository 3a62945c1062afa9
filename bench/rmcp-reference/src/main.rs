//! The least a client built on rmcp can do: the benchmark's second baseline.
//!
//! `mcp-rmcp-reference call TOOL JSON -- COMMAND ARGS...` spawns the server
//! with rmcp's `TokioChildProcess`, initializes, calls the tool once, prints
//! the first text block and closes the connection (the server exits on
//! stdin EOF). `mcp-rmcp-reference list -- COMMAND ARGS...` lists the tools
//! instead and kills the server right after the answer. No config, no
//! retries, no timeouts, no filters: what mcp-cli spends beyond this is its
//! own overhead over the SDK.

use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::transport::TokioChildProcess;
use tokio::process::Command;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|arg| arg == "--")
        .expect("usage: see the source");
    let (mode, server) = (&args[..split], &args[split + 1..]);
    let mut command = Command::new(&server[0]);
    command.args(&server[1..]);
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = transport.id().expect("a pid") as i32;
    let client = ().serve(transport).await.expect("initialize");
    match mode {
        [verb, tool, json] if verb == "call" => {
            let arguments = serde_json::from_str(json).expect("JSON object");
            let result = client
                .call_tool(CallToolRequestParams::new(tool.clone()).with_arguments(arguments))
                .await
                .expect("call");
            if let Some(ContentBlock::Text(text)) = result.content.first() {
                println!("{}", text.text);
            }
            let _ = client.cancel().await;
        }
        [verb] if verb == "list" => {
            let tools = client.list_all_tools().await.expect("list");
            println!("{} tools", tools.len());
            // SAFETY: plain syscalls on our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            std::process::exit(0);
        }
        _ => panic!("usage: call TOOL JSON -- CMD... | list -- CMD..."),
    }
}
