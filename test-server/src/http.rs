//! `--http`: the test server over HTTP, with HTTP faults on demand.
//!
//! A front end on 127.0.0.1 (a port the system picks, printed first on
//! stdout as `listening on http://127.0.0.1:PORT/mcp`) that runs the stdio
//! server (this same binary, the other switches passed on) once per MCP
//! session and carries its messages:
//! - Streamable HTTP at `/mcp`: POST answered with JSON, or with an event
//!   stream under `--http-sse`; `Mcp-Session-Id`; DELETE ends a session; GET
//!   with `Last-Event-ID` resumes a stream the server cut.
//! - `--http-legacy`: the 2024-11-05 HTTP+SSE transport instead: GET `/sse`
//!   opens the stream (first event `endpoint`), POST `/messages?session=ID`
//!   carries messages (202), answers come on the stream; `/mcp` is 404.
//!
//! Faults (`--http-fault KIND`, repeatable):
//! - `auth`: every request is 401 with a `WWW-Authenticate` challenge.
//! - `status:CODE:N[:SECONDS[:METHOD]]`: the first N POSTs of requests (of
//!   METHOD only, when given) get CODE (with `Retry-After: SECONDS` unless
//!   empty), before reaching the server.
//! - `expire:N`: the first session's requests past the Nth get 404 (expired).
//! - `html`: every POST gets 200 with an HTML login page.
//! - `junk`: every POST of a request gets 200 JSON that is not JSON-RPC.
//! - `drop`: (with `--http-sse`) the stream of a `tools/call` sends an
//!   event id, then is closed before the answer; the answer waits for a GET
//!   with that `Last-Event-ID`.
//! - `slow:MS`: every answer waits MS milliseconds.
//! - `reset:METHOD`: a request of METHOD is passed to the server, and its
//!   connection closed without an answer once the server has answered.
//! - `endpoint:URL`: (with `--http-legacy`) the `endpoint` event names URL.
//! - `loopget`: the standalone event stream (GET) is closed as soon as it
//!   opens, with `retry: 0`.
//! - `redirect:URL`: every request to `/mcp` is redirected (307) to URL;
//!   `/moved` serves what `/mcp` does.
//!
//! With `--state DIR`, each HTTP request is appended to `DIR/http.log`:
//! `<METHOD> <path> <rpc method or -> <status>`, plus `resume <id>`,
//! `authorization <value>` (the header of each `initialize`) and `proxied
//! <host>` (a request sent to it as to an HTTP proxy, served as its own).
//!
//! `--http-session-id ID` names every session ID (for a benchmark's
//! reference, which cannot read it from a response).
//!
//! `--http-tls KIND` serves https instead, with a CA made at start (its
//! certificate written to `DIR/ca.pem`) and a server certificate it signed:
//! `ok` (for 127.0.0.1 and localhost), `name` (for another host only) or
//! `expired`.

use serde_json::Value;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The HTTP switches, taken out of the command line.
#[derive(Default)]
pub struct Options {
    pub sse: bool,
    pub legacy: bool,
    pub faults: Vec<String>,
    pub tls: Option<String>,
    /// Every session's id (for a benchmark whose reference cannot read one).
    pub session_id: Option<String>,
}

/// A connection, plain or TLS.
trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}
type Stream = Box<dyn Conn>;

/// Splits the HTTP switches off `args`; `None` when `--http` is not there.
pub fn options(args: &[String]) -> Result<Option<(Options, Vec<String>)>, String> {
    if !args.iter().any(|arg| arg == "--http") {
        return Ok(None);
    }
    let mut options = Options::default();
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--http" => {}
            "--http-sse" => options.sse = true,
            "--http-legacy" => options.legacy = true,
            "--http-session-id" => {
                options.session_id = Some(
                    args.next()
                        .ok_or("--http-session-id needs a value")?
                        .to_owned(),
                );
            }
            "--http-tls" => {
                options.tls = Some(args.next().ok_or("--http-tls needs a value")?.to_owned());
            }
            "--http-fault" => options
                .faults
                .push(args.next().ok_or("--http-fault needs a value")?.to_owned()),
            _ => rest.push(arg.clone()),
        }
    }
    Ok(Some((options, rest)))
}

/// One MCP session: its stdio server, and where its answers go.
struct Session {
    stdin: Mutex<ChildStdin>,
    child: Mutex<Child>,
    /// Waiting POSTs (Streamable HTTP), by JSON-RPC id.
    waiting: Mutex<HashMap<String, Sender<String>>>,
    /// The legacy event stream, where everything goes.
    stream: Mutex<Option<Sender<String>>>,
    /// Server notifications for the request in flight (progress).
    notes: Mutex<Option<Sender<String>>>,
    requests: AtomicU64,
}

struct Front {
    options: Options,
    rest: Vec<String>,
    state: Option<PathBuf>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    next: AtomicU64,
    /// POSTs of requests so far, for `status:CODE:N`.
    posts: AtomicU64,
    /// Answers held back by `drop`, by event id.
    held: Mutex<HashMap<String, String>>,
    /// What `oauth` has issued.
    oauth: Mutex<crate::oauth::State>,
}

pub fn serve(options: Options, rest: Vec<String>) -> ! {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let state = rest
        .iter()
        .position(|arg| arg == "--state")
        .and_then(|at| rest.get(at + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("MCP_TEST_STATE").map(PathBuf::from));
    let path = if options.legacy { "sse" } else { "mcp" };
    let tls = options
        .tls
        .as_deref()
        .map(|kind| tls_config(kind, state.as_deref()));
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://127.0.0.1:{port}/{path}");
    let _ = std::io::stdout().flush();
    let front = Arc::new(Front {
        options,
        rest,
        state,
        sessions: Mutex::new(HashMap::new()),
        next: AtomicU64::new(1),
        posts: AtomicU64::new(0),
        held: Mutex::new(HashMap::new()),
        oauth: Mutex::default(),
    });
    for stream in listener.incoming().flatten() {
        let front = Arc::clone(&front);
        let tls = tls.clone();
        thread::spawn(move || {
            let stream: Stream = match tls {
                Some(config) => match rustls::ServerConnection::new(config) {
                    Ok(connection) => Box::new(rustls::StreamOwned::new(connection, stream)),
                    Err(_) => return,
                },
                None => Box::new(stream),
            };
            let _ = front.connection(stream);
        });
    }
    std::process::exit(0)
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A CA made now (written to `DIR/ca.pem`) and a server certificate of
/// `kind` it signed.
fn tls_config(kind: &str, state: Option<&std::path::Path>) -> Arc<rustls::ServerConfig> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "mcp-test-server CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let names = match kind {
        "name" => vec!["other.example".to_owned()],
        _ => vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
    };
    let mut leaf = CertificateParams::new(names).expect("server params");
    if kind == "expired" {
        leaf.not_before = rcgen::date_time_ymd(2000, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let leaf_key = KeyPair::generate().expect("server key");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .expect("server certificate");
    if let Some(dir) = state {
        let _ = std::fs::create_dir_all(dir);
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
    }
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)
    .expect("server certificate and key");
    Arc::new(config)
}

fn read_request(reader: &mut BufReader<Stream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|length| length.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut dyn Write, status: u16, headers: &[(&str, String)], body: &str) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut text = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let _ = stream.write_all(text.as_bytes());
}

/// Starts an event stream's response (no length: it ends when closed).
fn start_stream(stream: &mut dyn Write, headers: &[(&str, String)]) {
    let mut text = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n".to_owned();
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let _ = stream.write_all(text.as_bytes());
}

fn event(stream: &mut dyn Write, kind: Option<&str>, id: Option<&str>, data: &str) -> bool {
    let mut text = String::new();
    if let Some(kind) = kind {
        text.push_str(&format!("event: {kind}\n"));
    }
    if let Some(id) = id {
        text.push_str(&format!("id: {id}\n"));
    }
    text.push_str(&format!("data: {data}\n\n"));
    stream.write_all(text.as_bytes()).is_ok() && stream.flush().is_ok()
}

impl Front {
    fn record(&self, line: &str) {
        let Some(dir) = &self.state else { return };
        let _ = std::fs::create_dir_all(dir);
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("http.log"))
        {
            // One write: lines of requests served side by side must not
            // interleave.
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }

    fn fault(&self, name: &str) -> Option<Vec<String>> {
        self.options.faults.iter().find_map(|fault| {
            let mut parts = fault.split(':');
            (parts.next() == Some(name)).then(|| parts.map(str::to_owned).collect())
        })
    }

    fn connection(self: &Arc<Self>, stream: Stream) -> Option<()> {
        let mut reader = BufReader::new(stream);
        let request = read_request(&mut reader)?;
        // One request per connection (`Connection: close`): nothing more is
        // buffered.
        let mut stream = reader.into_inner();
        // A proxy's request names the whole URL: served as if it came here.
        let mut request = request;
        if let Some(rest) = request.path.strip_prefix("http://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            self.record(&format!("proxied {host}"));
            request.path = format!("/{path}");
        }
        if let Some(ms) = self.fault("slow").and_then(|p| p.first()?.parse().ok()) {
            thread::sleep(Duration::from_millis(ms));
        }
        let rpc: Option<Value> = serde_json::from_slice(&request.body).ok();
        let rpc_method = rpc
            .as_ref()
            .and_then(|rpc| rpc.get("method"))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned();
        let log = |status: u16| {
            self.record(&format!(
                "{} {} {rpc_method} {status}",
                request.method,
                request.path.split('?').next().unwrap_or("")
            ));
        };
        if let Some(params) = self.fault("oauth") {
            let host = request
                .headers
                .get("host")
                .cloned()
                .unwrap_or_else(|| "127.0.0.1".to_owned());
            let server = crate::oauth::Server {
                state: &self.oauth,
                ttl: Duration::from_secs(
                    params
                        .first()
                        .and_then(|ttl| ttl.parse().ok())
                        .unwrap_or(3600),
                ),
                kind: params.get(1).map(String::as_str),
                dir: self.state.as_deref(),
                base: format!("http://{host}"),
            };
            let record = |line: &str| self.record(line);
            if let Some((status, headers, body)) = server.route(
                &request.method,
                &request.path,
                &request.headers,
                &request.body,
                &record,
            ) {
                log(status);
                let headers: Vec<(&str, String)> = headers
                    .iter()
                    .map(|(name, value)| (*name, value.clone()))
                    .collect();
                respond(&mut stream, status, &headers, &body);
                return Some(());
            }
        }
        if self.fault("auth").is_some() {
            log(401);
            respond(
                &mut stream,
                401,
                &[(
                    "WWW-Authenticate",
                    r#"Bearer realm="mcp-test", error="invalid_token""#.to_owned(),
                )],
                "unauthorized",
            );
            return Some(());
        }
        let mut path = request.path.split('?').next().unwrap_or("").to_owned();
        if path == "/mcp"
            && let Some(target) = self.fault("redirect")
        {
            log(307);
            respond(&mut stream, 307, &[("Location", target.join(":"))], "");
            return Some(());
        }
        // Where `redirect` sends requests: served as /mcp.
        if path == "/moved" {
            path = "/mcp".to_owned();
        }
        match (request.method.as_str(), path.as_str(), self.options.legacy) {
            ("GET", "/sse", true) => self.legacy_stream(stream),
            ("POST", "/messages", true) => {
                let session = request
                    .path
                    .split_once("session=")
                    .map(|(_, id)| id.to_owned())
                    .and_then(|id| self.sessions.lock().unwrap().get(&id).cloned());
                let (Some(session), Some(rpc)) = (session, rpc) else {
                    log(404);
                    respond(&mut stream, 404, &[], "no such session");
                    return Some(());
                };
                log(202);
                respond(&mut stream, 202, &[], "");
                send(&session, &rpc);
            }
            ("POST", "/mcp", false) => self.post(stream, &request, rpc, &log),
            ("DELETE", "/mcp", false) => {
                let id = request.headers.get("mcp-session-id").cloned();
                let session = id.and_then(|id| self.sessions.lock().unwrap().remove(&id));
                log(if session.is_some() { 200 } else { 404 });
                respond(
                    &mut stream,
                    if session.is_some() { 200 } else { 404 },
                    &[],
                    "",
                );
                if let Some(session) = session {
                    end(&session);
                }
            }
            ("GET", "/mcp", false) => match request.headers.get("last-event-id") {
                Some(id) => {
                    self.record(&format!("resume {id}"));
                    let held = self.held.lock().unwrap().remove(id);
                    let Some(answer) = held else {
                        log(404);
                        respond(&mut stream, 404, &[], "");
                        return Some(());
                    };
                    log(200);
                    start_stream(&mut stream, &[]);
                    event(&mut stream, None, Some(&format!("{id}-done")), &answer);
                }
                // `loopget`: a stream closed at once, reopened `retry: 0` later.
                None if self.fault("loopget").is_some() => {
                    log(200);
                    start_stream(&mut stream, &[]);
                    let _ = stream.write_all(b"retry: 0\n\n");
                }
                None => {
                    log(405);
                    respond(&mut stream, 405, &[], "");
                }
            },
            _ => {
                log(404);
                respond(&mut stream, 404, &[], "not found");
            }
        }
        Some(())
    }

    /// Streamable HTTP: one POST.
    fn post(
        self: &Arc<Self>,
        mut stream: Stream,
        request: &Request,
        rpc: Option<Value>,
        log: &dyn Fn(u16),
    ) {
        let Some(rpc) = rpc else {
            log(400);
            respond(&mut stream, 400, &[], "not JSON");
            return;
        };
        let is_request = rpc.get("method").is_some() && rpc.get("id").is_some();
        if self.fault("html").is_some() {
            log(200);
            respond(
                &mut stream,
                200,
                &[("Content-Type", "text/html".to_owned())],
                "<html><body>Please log in to the Wi-Fi</body></html>",
            );
            return;
        }
        if is_request {
            let method = rpc.get("method").and_then(Value::as_str).unwrap_or("");
            if let Some(parts) = self.fault("status")
                && parts.get(3).is_none_or(|only| only == method)
            {
                let posts = self.posts.fetch_add(1, Ordering::SeqCst) + 1;
                let code: u16 = parts.first().and_then(|c| c.parse().ok()).unwrap_or(503);
                let count: u64 = parts.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
                if posts <= count {
                    let mut headers = Vec::new();
                    if let Some(seconds) = parts.get(2).filter(|seconds| !seconds.is_empty()) {
                        headers.push(("Retry-After", seconds.clone()));
                    }
                    log(code);
                    respond(&mut stream, code, &headers, "busy");
                    return;
                }
            }
            if self.fault("junk").is_some() {
                log(200);
                respond(
                    &mut stream,
                    200,
                    &[("Content-Type", "application/json".to_owned())],
                    r#"{"status":"ok","message":"welcome"}"#,
                );
                return;
            }
        }
        let initialize = rpc.get("method").and_then(Value::as_str) == Some("initialize");
        if initialize && let Some(value) = request.headers.get("authorization") {
            self.record(&format!("authorization {value}"));
        }
        let session = if initialize {
            let id = match &self.options.session_id {
                Some(id) => id.clone(),
                None => format!("s{}", self.next.fetch_add(1, Ordering::SeqCst)),
            };
            let Some(session) = self.start(&id) else {
                log(500);
                respond(&mut stream, 500, &[], "cannot start the server");
                return;
            };
            Some((id, session))
        } else {
            request.headers.get("mcp-session-id").and_then(|id| {
                let session = self.sessions.lock().unwrap().get(id).cloned()?;
                Some((id.clone(), session))
            })
        };
        let Some((session_id, session)) = session else {
            log(404);
            respond(&mut stream, 404, &[], "no such session");
            return;
        };
        if is_request
            && session_id == "s1"
            && let Some(limit) = self.fault("expire").and_then(|p| p.first()?.parse().ok())
            && session.requests.fetch_add(1, Ordering::SeqCst) >= limit
        {
            self.sessions.lock().unwrap().remove(&session_id);
            end(&session);
            log(404);
            respond(&mut stream, 404, &[], "session expired");
            return;
        }
        let id_header = [("Mcp-Session-Id", session_id.clone())];
        if !is_request {
            send(&session, &rpc);
            log(202);
            respond(&mut stream, 202, &[], "");
            return;
        }
        let key = rpc["id"].to_string();
        let (answers, answer) = channel();
        session.waiting.lock().unwrap().insert(key.clone(), answers);
        let (notes_to, notes) = channel();
        *session.notes.lock().unwrap() = Some(notes_to);
        send(&session, &rpc);
        // `reset:METHOD`: the request is taken, then the connection drops
        // before any answer.
        if self.fault("reset").is_some_and(|parts| {
            parts.first().map(String::as_str) == rpc.get("method").and_then(Value::as_str)
        }) {
            log(0);
            let _ = answer.recv_timeout(Duration::from_secs(30));
            return;
        }
        if !self.options.sse {
            let answer = answer.recv_timeout(Duration::from_secs(120));
            let Ok(answer) = answer else {
                log(504);
                respond(&mut stream, 504, &[], "no answer");
                return;
            };
            log(200);
            let mut headers = id_header.to_vec();
            headers.push(("Content-Type", "application/json".to_owned()));
            respond(&mut stream, 200, &headers, &answer);
            return;
        }
        log(200);
        start_stream(&mut stream, &id_header);
        let event_id = format!("{session_id}-{key}");
        if rpc.get("method").and_then(Value::as_str) == Some("tools/call")
            && self.fault("drop").is_some()
        {
            // A priming event with an id, then the stream is cut; the
            // answer waits for a GET with that Last-Event-ID.
            event(&mut stream, None, Some(&event_id), "");
            let _ = stream.write_all(b"retry: 100\n\n");
            drop(stream);
            if let Ok(answer) = answer.recv_timeout(Duration::from_secs(120)) {
                self.held.lock().unwrap().insert(event_id, answer);
            }
            return;
        }
        forward(&mut stream, &answer, &notes, &event_id);
    }

    /// Starts the stdio server of a new session.
    fn start(&self, id: &str) -> Option<Arc<Session>> {
        let mut child = Command::new(std::env::current_exe().ok()?)
            .args(&self.rest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        let session = Arc::new(Session {
            stdin: Mutex::new(stdin),
            child: Mutex::new(child),
            waiting: Mutex::new(HashMap::new()),
            stream: Mutex::new(None),
            notes: Mutex::new(None),
            requests: AtomicU64::new(0),
        });
        self.sessions
            .lock()
            .unwrap()
            .insert(id.to_owned(), Arc::clone(&session));
        let reader = Arc::clone(&session);
        thread::spawn(move || route(&reader, stdout));
        Some(session)
    }

    /// Legacy HTTP+SSE: the stream that carries every answer.
    fn legacy_stream(self: &Arc<Self>, mut stream: Stream) {
        let id = format!("s{}", self.next.fetch_add(1, Ordering::SeqCst));
        let Some(session) = self.start(&id) else {
            respond(&mut stream, 500, &[], "cannot start the server");
            return;
        };
        self.record(&format!("GET /sse - 200 {id}"));
        let (to, from) = channel();
        *session.stream.lock().unwrap() = Some(to);
        start_stream(&mut stream, &[]);
        let endpoint = match self.fault("endpoint") {
            Some(target) => target.join(":"),
            None => format!("/messages?session={id}"),
        };
        if event(&mut stream, Some("endpoint"), None, &endpoint) {
            while let Ok(message) = from.recv() {
                if !event(&mut stream, Some("message"), None, &message) {
                    break;
                }
            }
        }
        self.sessions.lock().unwrap().remove(&id);
        end(&session);
    }
}

/// Writes a request's notifications, then its answer, as events.
fn forward(stream: &mut dyn Write, answer: &Receiver<String>, notes: &Receiver<String>, id: &str) {
    loop {
        while let Ok(note) = notes.try_recv() {
            if !event(stream, None, None, &note) {
                return;
            }
        }
        if let Ok(answer) = answer.recv_timeout(Duration::from_millis(20)) {
            while let Ok(note) = notes.try_recv() {
                event(stream, None, None, &note);
            }
            event(stream, None, Some(id), &answer);
            return;
        }
    }
}

fn send(session: &Session, rpc: &Value) {
    let mut stdin = session.stdin.lock().unwrap();
    let _ = writeln!(stdin, "{rpc}");
    let _ = stdin.flush();
}

fn end(session: &Session) {
    let mut child = session.child.lock().unwrap();
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads the stdio server's lines and sends each where it goes.
fn route(session: &Session, stdout: std::process::ChildStdout) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(stream) = session.stream.lock().unwrap().as_ref() {
            let _ = stream.send(line);
            continue;
        }
        let id = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|message| message.get("id").map(Value::to_string));
        match id {
            Some(id) => {
                if let Some(waiting) = session.waiting.lock().unwrap().remove(&id) {
                    let _ = waiting.send(line);
                }
            }
            None => {
                if let Some(notes) = session.notes.lock().unwrap().as_ref() {
                    let _ = notes.send(line);
                }
            }
        }
    }
}
