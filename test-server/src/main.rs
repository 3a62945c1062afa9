//! `mcp-test-server`: a small MCP server over stdio that produces faults on
//! demand, for mcp-cli's integration tests and demo.
//!
//! Transport: newline-delimited JSON-RPC 2.0 (one JSON object per line on
//! stdin and on stdout). Methods: `initialize`, `ping`, `tools/list`
//! (paginated, page size from env `MCP_TEST_PAGE_SIZE`, default 100; the cursor
//! is the decimal index of the next tool) and `tools/call` (each call runs on
//! its own thread). Notifications other than `notifications/cancelled` are
//! ignored. stdin EOF ends the process with code 0.
//!
//! Tools, in listing order:
//! - `echo {text: string}`: returns `text`. Read-only.
//! - `add {a: number, b: number}`: returns the sum as text and as
//!   `structuredContent: {"sum": N}` (declares an `outputSchema`).
//! - `slow {seconds: number, progress?: boolean = true}`: sleeps, sending
//!   `notifications/progress` every 250 ms when the request carries
//!   `_meta.progressToken`; stops without replying when cancelled.
//! - `fail`: returns a tool error (`isError: true`).
//! - `mixed`: returns text, a 1x1 PNG image and an embedded text resource.
//! - `huge {bytes: integer}`: returns exactly `bytes` bytes of alphabet lines.
//! - `write {text?: string}`: destructive, non-idempotent; returns `written`.
//! - `idem`: idempotent, not read-only; returns `done`.
//! - `readonly`: read-only; returns `read`.
//!
//! Switches (all may be combined):
//! - `--state DIR` (or env `MCP_TEST_STATE`): append `spawn` to
//!   `DIR/events.log` at start (`spawn <unix ms>`), each tool name to `DIR/calls.log` when a call
//!   starts, `request <method>` to `DIR/events.log` for each request, and
//!   `cancelled <requestId>` to `DIR/events.log` on cancellation.
//!   With env `MCP_TEST_TAG` set, `tag <value> cwd <dir>` follows `spawn`.
//! - `--exit-before-init`: exit 1 before reading anything.
//! - `--fail-spawns K` (needs a state dir): the first K spawns exit 1.
//! - `--crash-on-call`: exit 3 on any `tools/call`, without replying.
//! - `--crash-on-call-tool NAME`: exit 3 on a call of tool NAME only.
//! - `--garbage`: write three non-JSON-RPC lines before answering `initialize`.
//! - `--garbage-only`: answer every request with `this is not json`.
//! - `--hang`: read stdin but never reply to anything.
//! - `--hang-on-call`: never reply to `tools/call` (calls and cancellations
//!   are still recorded).
//! - `--hang-on-list`: never reply to `tools/list`.
//! - `--serial`: run each call on the main thread, reading nothing until it
//!   is done (a cancellation is then read too late).
//! - `--endless-line-on-call`: answer `tools/call` with a line that never
//!   ends (text, written until stdout closes).
//! - `--slow-start MS`: sleep MS milliseconds before reading stdin.
//! - `--noisy-stderr N`: N noise lines on stderr at start, then one stderr
//!   line per message received.
//! - `--ignore-stdin-eof`: keep running (sleeping) after stdin EOF.
//! - `--ignore-sigterm`: record SIGTERM and keep running (with a state dir,
//!   SIGTERM is always recorded in `DIR/stop.log` as `signal TERM`, after
//!   `eof` when stdin ended first).
//! - `--spawn-grandchild` (needs a state dir): start `sleep 300` and record
//!   `grandchild <pid>` in `DIR/events.log`.
//! - `--stderr-on-exit TEXT`: print TEXT to stderr on every fault exit.
//! - `--help`: print usage and exit 0. Unknown arguments: usage, exit 2.

use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::{env, thread};

const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
const INSTRUCTIONS: &str =
    "A test server for mcp-cli: echo, add, slow, fail, mixed, huge, write, idem, readonly.";
/// A valid 1x1 RGBA PNG.
const TINY_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const DEFAULT_PAGE_SIZE: usize = 100;
/// What `--hostile` plants in every text field: hidden text (SGR 8), a
/// clipboard write (OSC 52), a window title (OSC 0), a carriage return, a
/// C1 CSI, DEL and a right-to-left override.
const HOSTILE: &str =
    "\x1b[8mHIDDEN\x1b[0m\x1b]52;c;aGFjaw==\x07\x1b]0;TITLE\x07\rOVER\u{9b}2J\x7f\u{202e}RTL";
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
const SLEEP_STEP: Duration = Duration::from_millis(100);

const USAGE: &str = "\
usage: mcp-test-server [switches]

An MCP server over stdio with faults on demand (tools: echo, add, slow, fail,
mixed, huge, write, idem, readonly).

  --state DIR                record spawns/calls/cancellations in DIR
                             (env MCP_TEST_STATE)
  --exit-before-init         exit 1 before reading anything
  --fail-spawns K            first K spawns exit 1 (needs --state)
  --crash-on-call            exit 3 on any tools/call
  --crash-on-call-tool NAME  exit 3 on a call of tool NAME
  --garbage                  write non-JSON-RPC lines before the initialize reply
  --garbage-only             answer every request with non-JSON
  --hang                     never reply to anything
  --hang-on-call             never reply to tools/call
  --hang-on-list             never reply to tools/list
  --serial                   run calls one at a time, reading nothing meanwhile
  --endless-line-on-call     answer tools/call with a line that never ends
  --slow-start MS            sleep MS milliseconds before reading stdin
  --noisy-stderr N           N noise lines at start, one line per message
  --ignore-stdin-eof         keep running after stdin EOF
  --ignore-sigterm           record SIGTERM (DIR/stop.log) and keep running
  --spawn-grandchild         start `sleep 300` and record its pid (needs --state)
  --spawn-setsid-grandchild  the same, in a session (and process group) of its
                             own, as a daemon would (setsid(1), Linux)
  --stderr-on-exit TEXT      print TEXT to stderr on every fault exit
  --protocol-version V       answer initialize with protocol version V, whatever
                             was asked
  --exit-leaving-stdout      on tools/call, start `sleep 30` holding stdout,
                             then exit 3 without answering
  --bad-answer KIND          answer tools/call with a line that does not parse:
                             nan, bigexp, surrogate (a lone one, as Node cuts a
                             string mid-emoji), badutf8, batch, pretty, deep,
                             nomessage (an error without message), nullid;
                             or, before a good answer: nanlog (a notification
                             with NaN), jsonlog (a JSON log line with an error),
                             forgenan (an unparsable answer to id 1), nested
                             (a 2 MB string 120 arrays deep); or the answer
                             with a BOM (bom) or its id as a string (strid)
  --odd-results              echo adds a content block of an unknown type;
                             fail answers with isError set to the string yes
  --odd-tools                also list a tool without inputSchema and one
                             without a name
  --endless-pages            tools/list pages without end: one tool each, and a
                             new cursor (each request recorded as `list`)
  --empty-pages              tools/list pages with no tool and a new cursor
                             (each request recorded as `list`)
  --forge-response           right after the initialize reply, answer ids 1 to
                             3, which no request has used yet, with FORGED
  --hostile                  plant escape sequences, OSC 52, \\r and newlines in
                             every text field (names, descriptions, messages,
                             progress, stderr), and list a tool whose name
                             forges a second line
  --http                     serve over HTTP on 127.0.0.1 (port printed first on
                             stdout), one stdio server per session; with
                             --http-sse (answers as event streams),
                             --http-legacy (the 2024-11-05 HTTP+SSE transport),
                             --http-fault KIND (auth, reset:METHOD,
                             status:CODE:N[:SECONDS[:METHOD]],
                             expire:N, html, junk, drop, slow:MS, redirect:URL,
                             endpoint:URL, loopget, oauth:TTL[:badstate]),
                             --http-tls
                             KIND (https with a CA made at start, written to
                             DIR/ca.pem: ok, name, expired); see http.rs
  --help                     print this help

env: MCP_TEST_PAGE_SIZE (tools/list page size, default 100)
";

#[derive(Debug, Default)]
struct Config {
    state: Option<PathBuf>,
    exit_before_init: bool,
    fail_spawns: Option<u64>,
    crash_on_call: bool,
    crash_on_call_tool: Option<String>,
    garbage: bool,
    garbage_only: bool,
    hang: bool,
    hang_on_call: bool,
    hang_on_list: bool,
    serial: bool,
    endless_line_on_call: bool,
    slow_start_ms: Option<u64>,
    noisy_stderr: Option<u64>,
    ignore_stdin_eof: bool,
    ignore_sigterm: bool,
    spawn_grandchild: bool,
    spawn_setsid_grandchild: bool,
    stderr_on_exit: Option<String>,
    hostile: bool,
    forge_response: bool,
    endless_pages: bool,
    odd_tools: bool,
    protocol_version: Option<String>,
    odd_results: bool,
    bad_answer: Option<String>,
    exit_leaving_stdout: bool,
    empty_pages: bool,
    page_size: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut cfg = Config::default();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                process::exit(0);
            }
            "--state" => cfg.state = Some(PathBuf::from(value()?)),
            "--exit-before-init" => cfg.exit_before_init = true,
            "--fail-spawns" => cfg.fail_spawns = Some(parse_number(&arg, &value()?)?),
            "--crash-on-call" => cfg.crash_on_call = true,
            "--crash-on-call-tool" => cfg.crash_on_call_tool = Some(value()?),
            "--garbage" => cfg.garbage = true,
            "--garbage-only" => cfg.garbage_only = true,
            "--hang" => cfg.hang = true,
            "--hang-on-call" => cfg.hang_on_call = true,
            "--hang-on-list" => cfg.hang_on_list = true,
            "--serial" => cfg.serial = true,
            "--endless-line-on-call" => cfg.endless_line_on_call = true,
            "--slow-start" => cfg.slow_start_ms = Some(parse_number(&arg, &value()?)?),
            "--noisy-stderr" => cfg.noisy_stderr = Some(parse_number(&arg, &value()?)?),
            "--ignore-stdin-eof" => cfg.ignore_stdin_eof = true,
            "--ignore-sigterm" => cfg.ignore_sigterm = true,
            "--spawn-grandchild" => cfg.spawn_grandchild = true,
            "--spawn-setsid-grandchild" => cfg.spawn_setsid_grandchild = true,
            "--stderr-on-exit" => cfg.stderr_on_exit = Some(value()?),
            "--hostile" => cfg.hostile = true,
            "--forge-response" => cfg.forge_response = true,
            "--endless-pages" => cfg.endless_pages = true,
            "--odd-tools" => cfg.odd_tools = true,
            "--odd-results" => cfg.odd_results = true,
            "--bad-answer" => cfg.bad_answer = Some(value()?),
            "--exit-leaving-stdout" => cfg.exit_leaving_stdout = true,
            "--protocol-version" => cfg.protocol_version = Some(value()?),
            "--empty-pages" => cfg.empty_pages = true,
            _ => return Err(format!("unknown argument: {arg}")),
        }
    }
    if cfg.state.is_none() {
        cfg.state = env::var_os("MCP_TEST_STATE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
    }
    if cfg.state.is_none() && cfg.fail_spawns.is_some() {
        return Err("--fail-spawns needs --state DIR (or MCP_TEST_STATE)".into());
    }
    if cfg.state.is_none() && cfg.spawn_grandchild {
        return Err("--spawn-grandchild needs --state DIR (or MCP_TEST_STATE)".into());
    }
    cfg.page_size = env::var("MCP_TEST_PAGE_SIZE")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_PAGE_SIZE);
    Ok(cfg)
}

fn parse_number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} expects a non-negative integer, got {value:?}"))
}

struct Server {
    cfg: Config,
    out: Mutex<io::Stdout>,
    /// Request ids (as JSON text) that the client cancelled.
    cancelled: Mutex<HashSet<String>>,
    /// Set at stdin EOF: every running call counts as cancelled.
    stopping: AtomicBool,
}

impl Server {
    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        // A closed stdout is not our problem: stdin EOF will end the process.
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }

    fn send(&self, msg: &Value) {
        self.write_line(&msg.to_string());
    }

    fn send_result(&self, id: &Value, result: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    /// A JSON-RPC error with `data`, as servers add for a failed call.
    fn send_error_with_data(&self, id: &Value, code: i64, message: &str, data: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}}));
    }

    fn send_error(&self, id: &Value, code: i64, message: &str) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        );
    }

    /// Appends one line to a file in the state dir, if there is one.
    fn record(&self, file: &str, line: &str) {
        let Some(dir) = &self.cfg.state else { return };
        let path = dir.join(file);
        let result = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = result {
            eprintln!("mcp-test-server: cannot append to {}: {e}", path.display());
        }
    }

    /// Exits with `code` after printing the fault message (and the
    /// `--stderr-on-exit` text, if any).
    fn fault_exit(&self, message: &str, code: i32) -> ! {
        eprintln!("mcp-test-server: {message}");
        if let Some(text) = &self.cfg.stderr_on_exit {
            eprintln!("{text}");
        }
        process::exit(code);
    }

    fn is_cancelled(&self, key: &str) -> bool {
        self.stopping.load(Ordering::Relaxed)
            || self
                .cancelled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(key)
    }
}

mod http;
mod oauth;

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let http = http::options(&args);
    let args = match &http {
        Ok(Some((_, rest))) => rest.clone(),
        _ => args,
    };
    let cfg = match http.and_then(|http| parse_args(args.into_iter()).map(|cfg| (http, cfg))) {
        Ok((Some((options, rest)), _)) => http::serve(options, rest),
        Ok((None, cfg)) => cfg,
        Err(msg) => {
            eprintln!("mcp-test-server: {msg}");
            eprint!("{USAGE}");
            process::exit(2);
        }
    };
    if let Some(dir) = &cfg.state
        && let Err(e) = fs::create_dir_all(dir)
    {
        eprintln!("mcp-test-server: cannot create {}: {e}", dir.display());
        process::exit(2);
    }
    if let Some(dir) = &cfg.state {
        record_sigterm(dir, cfg.ignore_sigterm);
    }
    let srv = Arc::new(Server {
        cfg,
        out: Mutex::new(io::stdout()),
        cancelled: Mutex::new(HashSet::new()),
        stopping: AtomicBool::new(false),
    });
    let cfg = &srv.cfg;

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    srv.record("events.log", &format!("spawn {now_ms}"));
    // What the server was started with, for tests of who gets which server.
    if let Ok(tag) = std::env::var("MCP_TEST_TAG") {
        let cwd = std::env::current_dir().unwrap_or_default();
        srv.record("events.log", &format!("tag {tag} cwd {}", cwd.display()));
    }
    if cfg.hostile {
        eprintln!("mcp-test-server: stderr {HOSTILE}");
    }
    for i in 1..=cfg.noisy_stderr.unwrap_or(0) {
        eprintln!("mcp-test-server: noise line {i}");
    }
    if cfg.spawn_grandchild {
        spawn_grandchild(&srv, false);
    }
    if cfg.spawn_setsid_grandchild {
        spawn_grandchild(&srv, true);
    }
    if cfg.exit_before_init {
        srv.fault_exit("exiting before initialize (fault injected)", 1);
    }
    if let (Some(k), Some(dir)) = (cfg.fail_spawns, &cfg.state) {
        let log = fs::read_to_string(dir.join("events.log")).unwrap_or_default();
        let n = log.lines().filter(|l| l.starts_with("spawn")).count() as u64;
        if n <= k {
            srv.fault_exit(&format!("still starting (spawn {n} of {k} failing)"), 1);
        }
    }
    if let Some(ms) = cfg.slow_start_ms {
        thread::sleep(Duration::from_millis(ms));
    }

    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    let mut calls: Vec<JoinHandle<()>> = Vec::new();
    loop {
        buf.clear();
        match stdin.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(msg) => {
                calls.retain(|call| !call.is_finished());
                calls.extend(handle_message(&srv, msg));
            }
            Err(e) => srv.send_error(&Value::Null, -32700, &format!("Parse error: {e}")),
        }
    }
    srv.record("stop.log", "eof");
    if cfg.ignore_stdin_eof {
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    // Let quick calls still in flight reply; a running `slow` stops silently.
    srv.stopping.store(true, Ordering::Relaxed);
    for call in calls {
        let _ = call.join();
    }
    process::exit(0);
}

/// The descriptor of `stop.log`, for the SIGTERM handler.
static STOP_LOG: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// Whether SIGTERM is only recorded, not obeyed.
static IGNORE_SIGTERM: AtomicBool = AtomicBool::new(false);

/// Records a SIGTERM in `DIR/stop.log` (`signal TERM`), then dies of it as
/// it would have, unless `--ignore-sigterm`.
fn record_sigterm(dir: &std::path::Path, ignore: bool) {
    use std::os::fd::IntoRawFd;
    let Ok(file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stop.log"))
    else {
        return;
    };
    STOP_LOG.store(file.into_raw_fd(), Ordering::SeqCst);
    IGNORE_SIGTERM.store(ignore, Ordering::SeqCst);
    extern "C" fn on_sigterm(_: libc::c_int) {
        const LINE: &[u8] = b"signal TERM\n";
        // SAFETY: write(2), signal(2) and raise(3) are async-signal-safe.
        unsafe {
            libc::write(
                STOP_LOG.load(Ordering::SeqCst),
                LINE.as_ptr().cast(),
                LINE.len(),
            );
            if !IGNORE_SIGTERM.load(Ordering::SeqCst) {
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                libc::raise(libc::SIGTERM);
            }
        }
    }
    // SAFETY: installs a handler that does only async-signal-safe work.
    unsafe {
        libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t);
    }
}

fn spawn_grandchild(srv: &Server, own_session: bool) {
    // setsid(1) calls setsid() and execs in place: the recorded pid is
    // sleep's (this child is not a group leader, so it need not fork).
    let mut command = if own_session {
        let mut command = Command::new("setsid");
        command.arg("sleep");
        command
    } else {
        Command::new("sleep")
    };
    let child = command
        .arg("300")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        // Deliberately neither waited for nor killed: it must outlive us.
        Ok(child) => srv.record("events.log", &format!("grandchild {}", child.id())),
        Err(e) => eprintln!("mcp-test-server: cannot spawn grandchild: {e}"),
    }
}

/// Handles one incoming message; returns the thread running a tool call.
fn handle_message(srv: &Arc<Server>, msg: Value) -> Option<JoinHandle<()>> {
    let method = msg.get("method").and_then(Value::as_str);
    if srv.cfg.noisy_stderr.is_some() {
        eprintln!(
            "mcp-test-server: received {}",
            method.unwrap_or("(no method)")
        );
    }
    let id = msg.get("id").filter(|id| !id.is_null()).cloned();
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let Some(method) = method else {
        // A response to a server request (we send none) is ignored.
        if msg.get("result").is_none() && msg.get("error").is_none() {
            srv.send_error(&id.unwrap_or(Value::Null), -32600, "Invalid Request");
        }
        return None;
    };
    let Some(id) = id else {
        if method == "notifications/cancelled" {
            handle_cancelled(srv, &params);
        }
        return None;
    };
    srv.record("events.log", &format!("request {method}"));
    if srv.cfg.hang {
        return None;
    }
    if srv.cfg.garbage_only {
        srv.write_line("this is not json");
        return None;
    }
    match method {
        "initialize" => handle_initialize(srv, &id, &params),
        "ping" => srv.send_result(&id, json!({})),
        "tools/list" if srv.cfg.hang_on_list => {}
        "tools/list" => handle_list(srv, &id, &params),
        // One request at a time: a long call holds up everything else.
        "tools/call" if srv.cfg.serial => handle_call(srv, &id, &params),
        "tools/call" => {
            let srv = Arc::clone(srv);
            return Some(thread::spawn(move || handle_call(&srv, &id, &params)));
        }
        _ => srv.send_error(&id, -32601, &format!("Method not found: {method}")),
    }
    None
}

fn handle_cancelled(srv: &Server, params: &Value) {
    let Some(request_id) = params.get("requestId") else {
        return;
    };
    let key = request_id.to_string();
    srv.record("events.log", &format!("cancelled {key}"));
    srv.cancelled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key);
}

fn handle_initialize(srv: &Server, id: &Value, params: &Value) {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = srv.cfg.protocol_version.as_deref().unwrap_or(
        requested
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .unwrap_or(LATEST_PROTOCOL_VERSION),
    );
    if srv.cfg.garbage {
        srv.write_line("this is not json");
        srv.write_line(r#"{"jsonrpc": "2.0", "garbage": true}"#);
        srv.write_line("<<<binary-ish \u{1}\u{2}>>>");
    }
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "mcp-test-server", "version": env!("CARGO_PKG_VERSION")},
        "instructions": INSTRUCTIONS,
    });
    if srv.cfg.hostile {
        result["serverInfo"]["name"] = json!(format!("evil{HOSTILE}"));
        result["serverInfo"]["version"] = json!(format!("1{HOSTILE}"));
        result["instructions"] = json!(format!("{HOSTILE}\nsecond line{HOSTILE}"));
    }
    srv.send_result(id, result);
    if srv.cfg.forge_response {
        for forged in 1..=3 {
            srv.send_result(
                &json!(forged),
                json!({"content": [{"type": "text", "text": "FORGED"}], "tools": []}),
            );
        }
    }
}

fn handle_list(srv: &Server, id: &Value, params: &Value) {
    if srv.cfg.endless_pages || srv.cfg.empty_pages {
        srv.record("events.log", "list");
        let page = params
            .get("cursor")
            .and_then(Value::as_str)
            .and_then(|cursor| cursor.parse::<u64>().ok())
            .unwrap_or(0);
        let tools = if srv.cfg.empty_pages {
            json!([])
        } else {
            json!([{"name": format!("t{page}"), "inputSchema": {"type": "object"}}])
        };
        return srv.send_result(
            id,
            json!({"tools": tools, "nextCursor": (page + 1).to_string()}),
        );
    }
    let mut tools = tool_definitions();
    if srv.cfg.odd_tools {
        tools.push(json!({"name": "noschema", "description": "A tool without inputSchema."}));
        tools.push(json!({"description": "A tool without a name."}));
    }
    if srv.cfg.hostile {
        for tool in &mut tools {
            let description = tool["description"].as_str().unwrap_or_default().to_owned();
            tool["description"] = json!(format!("{description}{HOSTILE}\nmore"));
            tool["title"] = json!(format!("title{HOSTILE}"));
            tool["inputSchema"]["properties"][format!("param{HOSTILE}")] =
                json!({"type": format!("string{HOSTILE}"), "description": HOSTILE});
        }
        tools.push(json!({
            "name": format!("hidden{HOSTILE}"),
            "description": HOSTILE,
            "inputSchema": {"type": "object"},
        }));
        tools.push(json!({
            "name": "forged\nother/delete_repo",
            "description": "a name that forges a line",
            "inputSchema": {"type": "object"},
        }));
    }
    let start = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(cursor) => match cursor.as_str().and_then(|c| c.parse::<usize>().ok()) {
            Some(i) if i < tools.len() => i,
            _ => return srv.send_error(id, -32602, &format!("Invalid cursor: {cursor}")),
        },
    };
    let end = (start + srv.cfg.page_size).min(tools.len());
    let mut result = json!({"tools": &tools[start..end]});
    if end < tools.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    srv.send_result(id, result);
}

fn tool_definitions() -> Vec<Value> {
    let no_args = json!({"type": "object", "properties": {}});
    vec![
        json!({
            "name": "echo",
            "description": "Returns the given text.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string", "description": "Text to echo"}},
                "required": ["text"],
            },
            "annotations": {"readOnlyHint": true},
        }),
        json!({
            "name": "add",
            "description": "Adds two numbers.",
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
            "outputSchema": {
                "type": "object",
                "properties": {"sum": {"type": "number"}},
                "required": ["sum"],
            },
            "annotations": {"readOnlyHint": true, "idempotentHint": true},
        }),
        json!({
            "name": "slow",
            "description": "Sleeps for a while, reporting progress every 250 ms; can be cancelled.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "seconds": {"type": "number", "description": "How long to sleep"},
                    "progress": {"type": "boolean", "description": "Send progress notifications (default true)"},
                },
                "required": ["seconds"],
            },
        }),
        json!({
            "name": "fail",
            "description": "Always returns a tool error.",
            "inputSchema": no_args,
        }),
        json!({
            "name": "mixed",
            "description": "Returns text, an image and an embedded resource.",
            "inputSchema": no_args,
        }),
        json!({
            "name": "huge",
            "description": "Returns about the given number of bytes: a text, or structuredContent of a dense array, deep nesting, many small objects, or big integers.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "bytes": {"type": "integer", "minimum": 0},
                    "shape": {"type": "string", "enum": ["text", "dense", "deep", "objects", "bigint", "surrogate", "batch"]},
                },
                "required": ["bytes"],
            },
        }),
        json!({
            "name": "write",
            "description": "Pretends to write something (a tool with side effects).",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
            },
            "annotations": {"destructiveHint": true, "idempotentHint": false, "readOnlyHint": false},
        }),
        json!({
            "name": "idem",
            "description": "An idempotent tool that is not read-only.",
            "inputSchema": no_args,
            "annotations": {"idempotentHint": true, "readOnlyHint": false},
        }),
        json!({
            "name": "readonly",
            "description": "A read-only tool.",
            "inputSchema": no_args,
            "annotations": {"readOnlyHint": true},
        }),
    ]
}

/// A tool outcome: `Ok(Some(result))`, `Ok(None)` for "do not reply"
/// (cancelled), or `Err(message)` for a JSON-RPC invalid-params error.
type ToolOutcome = Result<Option<Value>, String>;

fn handle_call(srv: &Server, id: &Value, params: &Value) {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return srv.send_error(id, -32602, "Missing required argument: name");
    };
    srv.record("calls.log", name);
    // Lines written before the real answer, which must not spoil it.
    if let Some(kind) = &srv.cfg.bad_answer {
        let before = match kind.as_str() {
            "nanlog" => Some(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":{"v":NaN}}}"#.to_owned()),
            "jsonlog" => Some(r#"{"level":"error","msg":"db down","error":{"message":"ECONNREFUSED"}}"#.to_owned()),
            "forgenan" => Some(r#"{"jsonrpc":"2.0","id":1,"result":NaN}"#.to_owned()),
            "nested" => Some(format!("{}\"{}\"{}", "[".repeat(120), "a".repeat(2_000_000), "]".repeat(120))),
            // A log notification of a million numbers: too dense to parse
            // within the bound, and answering nothing.
            "densenote" => Some(format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":[{}0]}}}}"#,
                "0,".repeat(1_000_000)
            )),
            // The same, with the call's own id inside the log record.
            "densenoteid" => Some(format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":[{{"id":{id}}},{}0]}}}}"#,
                "0,".repeat(1_000_000)
            )),
            // An answer whose `id` is a million numbers.
            "denseid" => Some(format!(
                r#"{{"jsonrpc":"2.0","id":[{}0],"result":{{"content":[]}}}}"#,
                "0,".repeat(1_000_000)
            )),
            // A batch whose first message is that dense notification.
            "densebatch" => Some(format!(
                r#"[{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":[{}0]}}}}]"#,
                "0,".repeat(1_000_000)
            )),
            "bom" | "strid" => None,
            _ => None,
        };
        if let Some(line) = before {
            srv.write_line(&line);
        }
        if kind == "bom" || kind == "strid" {
            let id = if kind == "strid" {
                format!("\"{id}\"")
            } else {
                id.to_string()
            };
            let bom = if kind == "bom" { "\u{feff}" } else { "" };
            srv.write_line(&format!(
                r#"{bom}{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"fine"}}]}}}}"#
            ));
            return;
        }
    }
    if let Some(kind) = srv.cfg.bad_answer.as_ref().filter(|kind| {
        !matches!(
            kind.as_str(),
            "nanlog"
                | "jsonlog"
                | "forgenan"
                | "nested"
                | "densenote"
                | "densenoteid"
                | "denseid"
                | "densebatch"
                | "bom"
                | "strid"
        )
    }) {
        let text = r#"{"type":"text","text":"ok"}"#;
        let line = match kind.as_str() {
            "nan" => {
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{text}],"n":NaN}}}}"#)
            }
            "bigexp" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{text}],"n":1e999}}}}"#
            ),
            "surrogate" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"cut \ud83d"}}]}}}}"#
            ),
            "badutf8" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"BAD"}}]}}}}"#
            ),
            "batch" => {
                format!(r#"[{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{text}]}}}}]"#)
            }
            "pretty" => format!(
                "{{\n  \"jsonrpc\": \"2.0\",\n  \"id\": {id},\n  \"result\": {{\"content\": [{text}]}}\n}}"
            ),
            "deep" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{text}],"deep":{}1{}}}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
            "nomessage" => format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32000}}}}"#),
            "nullid" => {
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#
                    .to_owned()
            }
            // A content block of an unknown type, beside a million numbers.
            "odddense" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"x"}},{{"type":"hologram"}}],"structuredContent":[{}0]}}}}"#,
                "0,".repeat(1_000_000)
            ),
            // A lone surrogate in the text, beside a million numbers.
            "surdense" => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"x\ud83d"}}],"structuredContent":[{}0]}}}}"#,
                "0,".repeat(1_000_000)
            ),
            other => format!("unknown --bad-answer {other}"),
        };
        let mut bytes = line.into_bytes();
        if let Some(at) = bytes.windows(3).position(|window| window == b"BAD") {
            // An invalid UTF-8 byte in the text.
            bytes.splice(at..at + 3, [0xff]);
        }
        bytes.push(b'\n');
        let mut out = srv.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(&bytes);
        let _ = out.flush();
        return;
    }
    if srv.cfg.exit_leaving_stdout {
        // A helper that inherits stdout (as Python's Popen passes it on),
        // then the server dies without answering.
        let _ = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        srv.fault_exit(
            "exiting mid-call, a helper holding stdout (fault injected)",
            3,
        );
    }
    if srv.cfg.crash_on_call || srv.cfg.crash_on_call_tool.as_deref() == Some(name) {
        srv.fault_exit("crashing mid-call (fault injected)", 3);
    }
    if srv.cfg.hang_on_call {
        return;
    }
    if srv.cfg.endless_line_on_call {
        let mut out = srv.out.lock().unwrap_or_else(|e| e.into_inner());
        let start = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#
        );
        let chunk = [b'a'; 65536];
        if out.write_all(start.as_bytes()).is_ok() {
            while out.write_all(&chunk).is_ok() {}
        }
        return;
    }
    let empty = Map::new();
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => {
            return srv.send_error(id, -32602, "Invalid params: arguments must be an object");
        }
    };
    let token = params
        .get("_meta")
        .and_then(|meta| meta.get("progressToken"))
        .filter(|t| !t.is_null());
    let outcome = run_tool(srv, id, name, args, token);
    srv.cancelled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id.to_string());
    match outcome {
        Ok(Some(result)) => srv.send_result(id, result),
        Ok(None) => {}
        Err(message) if srv.cfg.hostile => {
            srv.send_error(id, -32602, &format!("{message}{HOSTILE}"))
        }
        Err(message) => srv.send_error_with_data(id, -32602, &message, json!({"tool": name})),
    }
}

fn run_tool(
    srv: &Server,
    id: &Value,
    name: &str,
    args: &Map<String, Value>,
    token: Option<&Value>,
) -> ToolOutcome {
    let result = match name {
        "echo" if srv.cfg.odd_results => {
            let text = required(args, "text", "string", Value::as_str)?;
            json!({"content": [
                {"type": "text", "text": text},
                {"type": "hologram", "frames": 3},
            ]})
        }
        "echo" => text_result(required(args, "text", "string", Value::as_str)?),
        "fail" if srv.cfg.odd_results => json!({
            "content": [{"type": "text", "text": "something went wrong"}],
            "isError": "yes",
        }),
        "add" => {
            let a = required(args, "a", "number", Value::as_f64)?;
            let b = required(args, "b", "number", Value::as_f64)?;
            let sum = match (args["a"].as_i64(), args["b"].as_i64()) {
                (Some(a), Some(b)) => a.checked_add(b).map(Value::from),
                _ => None,
            }
            .unwrap_or_else(|| number(a + b));
            if sum.is_null() {
                return Ok(Some(error_result("the sum is not a finite number")));
            }
            json!({
                "content": [{"type": "text", "text": sum.to_string()}],
                "structuredContent": {"sum": sum},
            })
        }
        "slow" => {
            let seconds = required(args, "seconds", "number", Value::as_f64)?;
            let progress = match args.get("progress") {
                None | Some(Value::Null) => true,
                Some(v) => v
                    .as_bool()
                    .ok_or("Invalid argument progress: expected boolean")?,
            };
            let duration = Duration::try_from_secs_f64(seconds)
                .map_err(|_| "Invalid argument seconds: expected a non-negative number")?;
            let token = token.filter(|_| progress);
            if !sleep_with_progress(srv, id, duration, token) {
                return Ok(None);
            }
            text_result(&format!("slept {} s", number(seconds)))
        }
        "fail" if srv.cfg.hostile => error_result(&format!("something went wrong{HOSTILE}")),
        "fail" => error_result("something went wrong"),
        "mixed" => json!({
            "content": [
                {"type": "text", "text": "mixed content follows"},
                {"type": "image", "mimeType": "image/png", "data": TINY_PNG},
                {
                    "type": "resource",
                    "resource": {
                        "uri": "test://hello.txt",
                        "mimeType": "text/plain",
                        "text": "hello from a resource",
                    },
                },
            ],
        }),
        "huge" => {
            let bytes = required(args, "bytes", "non-negative integer", Value::as_u64)?;
            let bytes = usize::try_from(bytes).map_err(|_| "Invalid argument bytes: too large")?;
            let shape = args.get("shape").and_then(Value::as_str).unwrap_or("text");
            if matches!(shape, "text" | "surrogate" | "batch") {
                // Streamed: this server's memory stays small beside the
                // client's under test. The text is exactly `bytes` long,
                // then (`surrogate`) a lone UTF-16 surrogate; `batch` wraps
                // the answer in a batch.
                let (open, close) = match shape {
                    "batch" => ("[", "\"}]}}]"),
                    "surrogate" => ("", "\\ud83d\"}]}}"),
                    _ => ("", "\"}]}}"),
                };
                let line = "abcdefghijklmnopqrstuvwxyz";
                let mut out = srv.out.lock().unwrap_or_else(|e| e.into_inner());
                let mut out = std::io::BufWriter::new(&mut *out);
                let _ = write!(
                    out,
                    r#"{open}{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#
                );
                for _ in 0..bytes / (line.len() + 1) {
                    let _ = write!(out, "{line}\\n");
                }
                let _ = out.write_all(&line.as_bytes()[..bytes % (line.len() + 1)]);
                let _ = out.write_all(close.as_bytes());
                let _ = out.write_all(b"\n");
                let _ = out.flush();
                return Ok(None);
            }
            if !matches!(shape, "dense" | "deep" | "objects" | "bigint") {
                return Err(format!("Invalid argument shape: {shape}"));
            }
            // structuredContent, streamed as text.
            let mut out = srv.out.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = std::io::BufWriter::new(&mut *out);
            let _ = write!(
                out,
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{shape}"}}],"structuredContent":"#
            );
            write_shaped(&mut out, shape, bytes);
            let _ = out.write_all(b"}}\n");
            let _ = out.flush();
            return Ok(None);
        }
        "write" => {
            if args
                .get("text")
                .is_some_and(|t| !t.is_string() && !t.is_null())
            {
                return Err("Invalid argument text: expected string".into());
            }
            text_result("written")
        }
        "idem" => text_result("done"),
        "readonly" => text_result("read"),
        _ => error_result(&format!("Unknown tool: {name}")),
    };
    Ok(Some(result))
}

/// Sleeps for `total` in small steps, sending progress notifications when
/// there is a token. Returns false if the request was cancelled.
fn sleep_with_progress(srv: &Server, id: &Value, total: Duration, token: Option<&Value>) -> bool {
    let key = id.to_string();
    let steps = total
        .as_millis()
        .div_ceil(PROGRESS_INTERVAL.as_millis())
        .max(1) as u32;
    let due = |k: u32| (PROGRESS_INTERVAL * k).min(total);
    let start = Instant::now();
    let mut k = 1;
    loop {
        if srv.is_cancelled(&key) {
            return false;
        }
        let elapsed = start.elapsed();
        if let Some(token) = token {
            while k <= steps && elapsed >= due(k) {
                srv.send(&json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": token,
                        "progress": k,
                        "total": steps,
                        "message": if srv.cfg.hostile {
                            format!("step {k}{HOSTILE}")
                        } else {
                            format!("step {k} of {steps}")
                        },
                    },
                }));
                k += 1;
            }
        }
        if elapsed >= total {
            return !srv.is_cancelled(&key);
        }
        let mut wait = (total - elapsed).min(SLEEP_STEP);
        if token.is_some() && k <= steps {
            wait = wait.min(due(k).saturating_sub(elapsed));
        }
        thread::sleep(wait);
    }
}

/// Reads a required argument, or explains what is wrong with it.
fn required<'a, T>(
    args: &'a Map<String, Value>,
    name: &str,
    kind: &str,
    get: impl Fn(&'a Value) -> Option<T>,
) -> Result<T, String> {
    let value = args
        .get(name)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("Missing required argument: {name}"))?;
    get(value).ok_or_else(|| format!("Invalid argument {name}: expected {kind}"))
}

/// A JSON number that prints without a fraction when it is integral
/// (`5`, not `5.0`). Non-finite values become null.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

/// Writes about `bytes` of JSON in the given shape (`dense`, `deep`,
/// `objects` or `bigint`), for memory tests.
fn write_shaped(out: &mut impl Write, shape: &str, bytes: usize) {
    let item = match shape {
        "dense" => "0".to_owned(),
        // Nested 100 deep, below any parser's recursion limit.
        "deep" => format!("{}0{}", "[".repeat(100), "]".repeat(100)),
        "objects" => r#"{"a":0}"#.to_owned(),
        _ => {
            let _ = out.write_all(br#"{"big":123456789012345678901234567890,"neg":-98765432109876543210,"over_u64":18446744073709551616,"u64":18446744073709551615,"float":0.1}"#);
            return;
        }
    };
    let count = (bytes / (item.len() + 1)).max(1);
    let _ = out.write_all(b"[");
    for index in 0..count {
        if index > 0 {
            let _ = out.write_all(b",");
        }
        let _ = out.write_all(item.as_bytes());
    }
    let _ = out.write_all(b"]");
}

fn text_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}
