//! The daemon's side: the pool of warm servers and the relay.
//!
//! One task per command connected reads its lines and passes them to the
//! server; one task per server reads the server's lines and routes each:
//! an answer to the command whose request it answers (by id), a progress
//! notification to the command whose request it reports on (by token), a
//! request of the server's to a command waiting on it (or answered here),
//! a line that names no request to every command waiting. Other
//! notifications are dropped, as a command's own client drops them.
//!
//! Lifetimes. A server unused for its idle time is stopped in the MCP
//! order (stdin closed, a grace to exit, SIGTERM, SIGKILL); one that exits
//! is taken out of the pool, its commands told how it ended, and the next
//! command starts it again. The daemon exits once it holds no server and
//! no command. Its servers' process groups are recorded with their start
//! times, so that a daemon killed outright has them stopped by the next.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Digest;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, mpsc};

use super::place::{self, Place};
use super::{Connect, Event, Hello, PROTOCOL, Reply, Status, VOLATILE};
use crate::client::guard::{self, Id, wire_of};
use crate::client::process::{
    self, EOF_GRACE, MAX_MESSAGE_BYTES, ServerProcess, Stop, Supervisor, WatchedStdout,
};

/// The hidden verb that runs the daemon: `mcp-cli __daemon <dir>`.
pub const VERB: &str = "__daemon";

/// How long the daemon stays with nothing to do before it exits.
const LINGER: Duration = Duration::from_secs(1);

/// The largest log before it is rotated (one old log is kept).
const LOG_BYTES: u64 = 512 * 1024;

/// A line to send, with its newline.
type Line = Arc<Vec<u8>>;

/// How long after a cancellation the server is pinged, and how long it
/// has to answer before it is set aside.
const PING_AFTER: Duration = Duration::from_millis(500);
/// See [`PING_AFTER`].
const PING_WITHIN: Duration = Duration::from_secs(2);

/// How long the daemon tries to connect to a remote server at the most
/// (it gives up sooner when no command waits any more).
const REMOTE_CONNECT: Duration = Duration::from_secs(300);

/// Servers held at the most.
const MAX_POOLED: usize = 64;

/// Lines queued for a server's stdin at the most.
const STDIN_QUEUE: usize = 1024;

/// Stderr lines queued for a command at the most: past them, a command
/// that does not read (stopped with Ctrl-Z) or a server that floods its
/// stderr gets no more until the queue drains.
const STDERR_QUEUE: usize = 64;

/// Runs the daemon in `dir` until it has nothing left to hold; returns the
/// exit code.
pub fn run(dir: &std::path::Path) -> u8 {
    detach();
    let Ok(place) = Place::at(dir.to_path_buf()) else {
        return 1;
    };
    // One daemon per place: a second one started in a race leaves (after
    // a moment for one that is stopping its servers to let go).
    let started = Instant::now();
    let _held = loop {
        match place::try_lock(&place.file("daemon.lock")) {
            Ok(Some(lock)) => break lock,
            Ok(None) if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return 0,
        }
    };
    let log = Log::open();
    stop_recorded(&place, &log);
    let _ = std::fs::remove_file(&place.socket);
    let listener = match std::os::unix::net::UnixListener::bind(&place.socket) {
        Ok(listener) => listener,
        Err(error) => {
            log.write(&format!(
                "cannot listen on {}: {error}",
                place.socket.display()
            ));
            return 1;
        }
    };
    // What a server leaves outside its group (a `setsid` grandchild)
    // becomes the daemon's, to stop with it.
    process::become_subreaper();
    listening(&log);
    let supervisor = Supervisor::new();
    let (signals, watch_signals) = crate::signals::watch(false, supervisor);
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return 1;
    };
    log.write(&format!("started, pid {}", std::process::id()));
    runtime.block_on(async move {
        watch_signals();
        let Ok(()) = listener.set_nonblocking(true) else {
            return;
        };
        let Ok(listener) = UnixListener::from_std(listener) else {
            return;
        };
        let daemon = Arc::new(Daemon {
            pool: Mutex::new(HashMap::new()),
            clients: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            started: Instant::now(),
            supervisor,
            log,
            place,
            changed: Notify::new(),
            stopping: Notify::new(),
            unlinked: std::sync::atomic::AtomicBool::new(false),
        });
        daemon.serve(listener, signals).await;
    });
    supervisor.stop_all(Duration::from_millis(500));
    process::stop_orphans(Duration::from_millis(500), None);
    0
}

/// Leaves what the daemon got from the command that started it and that
/// is not its own: the session and terminal (a Ctrl-C or a hang-up there
/// is not the daemon's), descriptors left open without close-on-exec (a
/// shell's `5>&1`: the reader of that pipe would wait for the daemon), the
/// working directory (it would keep a file system busy), and a low limit
/// on descriptors (raised to the hard limit).
fn detach() {
    // SAFETY: setsid, close, chdir and the rlimit calls have no
    // memory-safety preconditions; nothing is open above 2 yet but what
    // was inherited.
    unsafe {
        libc::setsid();
        #[cfg(target_os = "linux")]
        let closed = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) == 0;
        #[cfg(not(target_os = "linux"))]
        let closed = false;
        if !closed {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
        libc::chdir(c"/".as_ptr());
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Tells the command that started the daemon that it listens (a line on
/// stdout, a pipe to it), then points stdout at `/dev/null`.
fn listening(log: &Log) {
    use std::os::fd::AsRawFd;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(b"listening\n");
    let _ = stdout.flush();
    match std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto the process's own stdout, from a descriptor
        // open for the call.
        Ok(null) => unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        },
        Err(error) => log.write(&format!("cannot open /dev/null: {error}")),
    }
}

/// The daemon's state.
struct Daemon {
    /// Servers by key.
    pool: Mutex<HashMap<String, Arc<Pooled>>>,
    /// Commands connected.
    clients: AtomicUsize,
    /// Servers not yet stopped (some out of the pool already).
    live: AtomicUsize,
    started: Instant,
    supervisor: &'static Supervisor,
    log: Log,
    place: Place,
    /// Something changed that may let the daemon exit.
    changed: Notify,
    /// `daemon stop` asked the daemon to exit.
    stopping: Notify,
    /// Its socket was taken away (by the daemon: another daemon may have
    /// one of the same name since).
    unlinked: std::sync::atomic::AtomicBool,
}

impl Daemon {
    /// Accepts commands until there is nothing left to hold, then stops.
    async fn serve(
        self: &Arc<Self>,
        listener: UnixListener,
        mut signals: tokio::sync::watch::Receiver<Option<u8>>,
    ) {
        let mut listening = Some(listener);
        let mut idle_since: Option<Instant> = None;
        loop {
            let accept = async {
                match &listening {
                    Some(listener) => listener.accept().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                accepted = accept => match accepted {
                    Some((stream, _)) => self.serve_client(stream),
                    // Out of descriptors, say: not a busy loop.
                    None => tokio::time::sleep(Duration::from_millis(100)).await,
                },
                () = self.changed.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = signals.changed() => {
                    self.log.write("stopping on a signal");
                    self.stop_all().await;
                    break;
                }
                () = self.stopping.notified() => break,
            }
            self.stop_idle();
            // Its socket removed by someone else (a cleaner of /tmp): made
            // again, or commands would start daemons that cannot run.
            if listening.is_some()
                && !self.unlinked.load(Ordering::SeqCst)
                && std::fs::symlink_metadata(&self.place.socket).is_err()
                && let Ok(listener) = std::os::unix::net::UnixListener::bind(&self.place.socket)
                && listener.set_nonblocking(true).is_ok()
                && let Ok(listener) = UnixListener::from_std(listener)
            {
                self.log.write("its socket was removed; listening again");
                listening = Some(listener);
            }
            let empty =
                self.live.load(Ordering::SeqCst) == 0 && self.clients.load(Ordering::SeqCst) == 0;
            if !empty {
                idle_since = None;
                continue;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < LINGER {
                continue;
            }
            // Nothing held: no new command may reach this daemon from now
            // on (the next starts another); one that connected just before
            // is served, and the daemon goes once it is done.
            let Some(listener) = listening.take() else {
                break;
            };
            self.unlink();
            let mut late = false;
            while let Some(Ok((stream, _))) = futures::FutureExt::now_or_never(listener.accept()) {
                late = true;
                self.serve_client(stream);
            }
            if !late {
                break;
            }
            idle_since = None;
        }
        self.unlink();
        let _ = std::fs::remove_file(self.place.file("servers"));
        self.log.write("exiting");
    }

    /// Takes its socket away, once: no command reaches it from now on.
    fn unlink(&self) {
        if !self.unlinked.swap(true, Ordering::SeqCst) {
            let _ = std::fs::remove_file(&self.place.socket);
        }
    }

    /// Serves a command that connected, counted among the clients.
    fn serve_client(self: &Arc<Self>, stream: UnixStream) {
        let daemon = self.clone();
        daemon.clients.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            daemon.client(stream).await;
            daemon.clients.fetch_sub(1, Ordering::SeqCst);
            daemon.changed.notify_one();
        });
    }

    /// Serves one connected command.
    async fn client(self: &Arc<Self>, stream: UnixStream) {
        // Only the user's own processes (the directory is theirs alone;
        // this checks again).
        match stream.peer_cred() {
            Ok(credentials) if credentials.uid() == place::uid() => {}
            _ => {
                self.log.write("refused a connection from another user");
                return;
            }
        }
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let mut line = Vec::new();
        let hello = tokio::time::timeout(
            Duration::from_secs(5),
            read_line(&mut reader, &mut line, HELLO_BYTES),
        )
        .await;
        let Ok(Ok(true)) = hello else {
            let refused = Event::Direct {
                reason: "its hello was too large or did not come".to_owned(),
            };
            return refuse(&mut reader, writer, &refused).await;
        };
        let reply = |reply: &Reply| {
            let mut line = serde_json::to_vec(reply).unwrap_or_default();
            line.push(b'\n');
            line
        };
        match serde_json::from_slice::<Hello>(&line) {
            Ok(Hello::Status) => {
                let _ = writer
                    .write_all(&reply(&Reply::Status(self.status())))
                    .await;
            }
            Ok(Hello::Stop) => {
                // No command starts a server meanwhile: the next one starts
                // another daemon.
                self.unlink();
                let servers = self.stop_all().await;
                let _ = writer.write_all(&reply(&Reply::Stopped { servers })).await;
                self.stopping.notify_one();
            }
            Ok(Hello::Connect(connect)) if connect.v == PROTOCOL => {
                let pooled = match self.pooled(&connect) {
                    Ok(pooled) => pooled,
                    Err(failed) => return refuse(&mut reader, writer, &failed).await,
                };
                let (id, mut lines, stderr_queued) = pooled.attach(connect.idle_ms);
                let write = async move {
                    while let Some(line) = lines.recv().await {
                        if writer.write_all(&line).await.is_err() {
                            return;
                        }
                        if line.starts_with(br#"#{"stderr""#) {
                            stderr_queued.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _ = writer.shutdown().await;
                };
                let read = async {
                    loop {
                        match read_line(&mut reader, &mut line, MAX_MESSAGE_BYTES).await {
                            Ok(true) => pooled.client_line(id, &line).await,
                            _ => return,
                        }
                    }
                };
                let writing = tokio::spawn(write);
                read.await;
                pooled.detach(id).await;
                writing.abort();
                self.changed.notify_one();
            }
            Ok(Hello::Connect(_)) | Err(_) => {
                let refused = Event::Direct {
                    reason: format!("it speaks version {PROTOCOL} of its wire"),
                };
                refuse(&mut reader, writer, &refused).await;
            }
        }
    }

    /// The pooled server for `connect`, started if there is none.
    fn pooled(self: &Arc<Self>, connect: &Connect) -> Result<Arc<Pooled>, Event> {
        let key = key(connect);
        let mut pool = self.pool.lock().expect("pool lock");
        // One being stopped is not used again: it is replaced.
        if let Some(pooled) = pool.get(&key)
            && !pooled.lock().stopping
        {
            return Ok(pooled.clone());
        }
        // Room for it: the server unused longest goes first; with all in
        // use, the command connects itself.
        if pool.len() >= MAX_POOLED {
            let unused = pool
                .values()
                .filter(|pooled| {
                    let state = pooled.lock();
                    state.clients.is_empty() && !state.stopping
                })
                .min_by_key(|pooled| pooled.lock().last_used);
            let Some(unused) = unused else {
                return Err(Event::Direct {
                    reason: format!("it holds {MAX_POOLED} servers, all in use"),
                });
            };
            unused.lock().stopping = true;
            unused.stop.notify_one();
        }
        if let Some(http) = &connect.http {
            let pooled = self.pooled_remote(connect, http, key.clone())?;
            pool.insert(key, pooled.clone());
            return Ok(pooled);
        }
        let env: Vec<crate::config::Setting> = connect
            .env
            .iter()
            .map(|(name, value)| crate::config::Setting {
                name: name.clone(),
                value: value.clone(),
                display: String::new(),
            })
            .collect();
        let inherit: Vec<(std::ffi::OsString, std::ffi::OsString)> = connect
            .inherit
            .iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        // The caller's mask, for the server to inherit (the daemon's own
        // is put back at once; nothing else runs meanwhile).
        // SAFETY: umask has no memory-safety preconditions.
        let own = unsafe { libc::umask(connect.umask as libc::mode_t) };
        let started = process::start(&process::Launch {
            server: &connect.server,
            command: &connect.command,
            args: &connect.args,
            env: &env,
            cwd: connect.cwd.as_deref().map(std::path::Path::new),
            base_env: Some(&inherit),
            // Where the caller runs, as a command started there would.
            dir: Some(std::path::Path::new(&connect.dir)),
            debug: false,
            supervisor: self.supervisor,
        });
        // SAFETY: as above.
        unsafe {
            libc::umask(own);
        }
        let started = match started {
            Ok(started) => started,
            Err(crate::error::McpError::Spawn {
                command,
                source,
                fix,
                ..
            }) => {
                // Not the message: it may name a substituted value.
                self.log.write(&format!(
                    "{}: could not start ({:?}{})",
                    crate::printer::one_line(&connect.server),
                    source.kind(),
                    source
                        .raw_os_error()
                        .map(|os| format!(", os error {os}"))
                        .unwrap_or_default()
                ));
                return Err(Event::SpawnFailed {
                    command,
                    os: source.raw_os_error(),
                    message: source.to_string(),
                    fix,
                });
            }
            Err(other) => {
                return Err(Event::Refused {
                    reason: other.to_string(),
                });
            }
        };
        let (process, stdout, mut stdin) = started.attach().map_err(|error| Event::Refused {
            reason: error.to_string(),
        })?;
        // The server's stdin is written by a task of its own, so that a
        // server that does not read holds up no command (and its stdin can
        // still be closed: the task is aborted).
        let (to_stdin, mut lines) = mpsc::channel::<Vec<u8>>(STDIN_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if stdin.write_all(&line).await.is_err() {
                    return;
                }
            }
        });
        let pooled = Arc::new(Pooled {
            key: key.clone(),
            server: connect.server.clone(),
            logged: crate::printer::one_line(&connect.server).into_owned(),
            pid: process.id(),
            stdin: Mutex::new(Some(to_stdin)),
            writer: Mutex::new(Some(writer.abort_handle())),
            tail: process.stderr_tail(),
            activity: stdout.activity(),
            state: Mutex::new(State::new(Init::NotSent, connect.idle_ms)),
            stop: Notify::new(),
            retire: Notify::new(),
            remote: None,
        });
        {
            let weak = Arc::downgrade(&pooled);
            pooled.tail.listen(move |line| {
                if let Some(pooled) = weak.upgrade() {
                    pooled.stderr(line);
                }
            });
        }
        self.log.write(&format!(
            "{}: started pid {} (key {})",
            crate::printer::one_line(&connect.server),
            pooled.pid,
            &key[..12]
        ));
        pool.insert(key, pooled.clone());
        drop(pool);
        self.record();
        let daemon = self.clone();
        let watched = pooled.clone();
        self.live.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            daemon.watch(watched, process, stdout).await;
            daemon.live.fetch_sub(1, Ordering::SeqCst);
            daemon.changed.notify_one();
        });
        Ok(pooled)
    }

    /// A new pooled connection to a remote server, connecting in the
    /// background: commands that come meanwhile wait for its `initialize`.
    /// A command whose proxies or certificates differ from the daemon's is
    /// told to connect itself.
    fn pooled_remote(
        self: &Arc<Self>,
        connect: &Connect,
        http: &super::Http,
        key: String,
    ) -> Result<Arc<Pooled>, Event> {
        let theirs = |name: &str| {
            connect
                .inherit
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        if let Some(name) = super::NETWORK
            .iter()
            .find(|name| theirs(name) != std::env::var(name).ok().as_deref())
        {
            return Err(Event::Direct {
                reason: format!("its {name} is not the daemon's"),
            });
        }
        let kind = match http.kind.as_str() {
            "streamable" => crate::config::HttpKind::Streamable,
            "sse" => crate::config::HttpKind::LegacySse,
            _ => crate::config::HttpKind::Auto,
        };
        let setting = |(name, value): &(String, String)| crate::config::Setting {
            name: name.clone(),
            value: value.clone(),
            display: String::new(),
        };
        let entry = crate::config::ServerEntry {
            name: connect.server.clone(),
            transport: crate::config::ServerConfig::Http {
                url: http.url.clone(),
                headers: http.headers.iter().map(setting).collect(),
                kind,
                oauth: http.oauth.clone().map(Box::new),
            },
            shown: http.shown.clone(),
            runs: String::new(),
            substituted: Vec::new(),
            unresolved: None,
            filter: crate::config::ToolFilter::default(),
            timeout: None,
            source: std::path::PathBuf::new(),
        };
        let pooled = Arc::new(Pooled {
            key,
            server: connect.server.clone(),
            logged: format!(
                "a remote server at {}",
                crate::printer::one_line(crate::client::host_of(&http.shown))
            ),
            pid: 0,
            stdin: Mutex::new(None),
            writer: Mutex::new(None),
            tail: process::StderrTail::default(),
            activity: process::Activity::default(),
            // Sent by the daemon itself, as it connects.
            state: Mutex::new(State::new(Init::Sent(-1), connect.idle_ms)),
            stop: Notify::new(),
            retire: Notify::new(),
            remote: Some(Remote {
                session: Mutex::new(None),
                calls: Mutex::new(HashMap::new()),
                progress: Mutex::new(HashMap::new()),
            }),
        });
        self.log.write(&format!("{}: connecting", pooled.logged));
        let daemon = self.clone();
        let watched = pooled.clone();
        let within = REMOTE_CONNECT;
        self.live.fetch_add(1, Ordering::SeqCst);
        let tokens = http.tokens.clone();
        tokio::spawn(async move {
            daemon.watch_remote(watched, entry, tokens, within).await;
            daemon.live.fetch_sub(1, Ordering::SeqCst);
            daemon.changed.notify_one();
        });
        Ok(pooled)
    }

    /// Connects to a remote server, then holds the connection until it is
    /// stopped (unused, `daemon stop`, or found broken).
    async fn watch_remote(
        &self,
        pooled: Arc<Pooled>,
        entry: crate::config::ServerEntry,
        tokens: Option<std::path::PathBuf>,
        within: Duration,
    ) {
        let weak = Arc::downgrade(&pooled);
        let options = crate::client::ConnectOptions {
            supervisor: self.supervisor,
            request_timeout: None,
            debug: false,
            progress: None,
            // Bounded below; its end is not the command's.
            deadline: None,
            whole_results: false,
            daemon: None,
            all_progress: Some(Arc::new(move |progress| {
                if let Some(pooled) = weak.upgrade() {
                    pooled.remote_progress(progress);
                }
            })),
            tokens,
        };
        let connected = tokio::select! {
            connected = tokio::time::timeout(
                within,
                crate::client::Session::connect_started(&entry, &options, None),
            ) => connected,
            () = async {
                tokio::select! {
                    () = pooled.stop.notified() => {}
                    () = pooled.retire.notified() => {}
                }
            } => Ok(Err(crate::error::McpError::ConnectionClosed {
                server: entry.name.clone(),
                method: "initialize".to_owned(),
                request_sent: true,
                exit_status: Some("stopped by the daemon".to_owned()),
                stderr: Vec::new(),
            })),
        };
        let session = match connected {
            Ok(Ok(session)) => session,
            failed => {
                let error = match failed {
                    Ok(Err(error)) => error,
                    _ => crate::error::McpError::Timeout {
                        server: entry.name.clone(),
                        method: "initialize".to_owned(),
                        duration: within,
                        stderr: Vec::new(),
                    },
                };
                self.forget(&pooled);
                self.log.write(&format!(
                    "{}: could not connect ({})",
                    pooled.logged,
                    error.error_type()
                ));
                pooled.gone(Event::Failed(super::Failure::of(&error)));
                return;
            }
        };
        let result = session.initialize_result();
        let remote = pooled.remote.as_ref().expect("a remote server");
        *remote.session.lock().expect("session lock") = Some(Arc::new(session));
        pooled.initialized_remote(&result);
        self.log.write(&format!("{}: connected", pooled.logged));
        pooled.stop.notified().await;
        self.forget(&pooled);
        for (_, (_, call)) in remote.calls.lock().expect("calls lock").drain() {
            call.abort();
        }
        // Ended as a command ends its own, once the requests let go of it
        // (the HTTP session's DELETE).
        let mut session = remote.session.lock().expect("session lock").take();
        for _ in 0..100 {
            match session.map(Arc::try_unwrap) {
                Some(Ok(session)) => {
                    session.close().await;
                    break;
                }
                Some(Err(shared)) => session = Some(shared),
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.log.write(&format!("{}: disconnected", pooled.logged));
        pooled.gone(Event::Gone {
            ended: Some("the mcp-cli daemon ended the session".to_owned()),
            garbage: false,
            overflowed: false,
        });
    }

    /// Relays the server's lines until it is gone or stopped, then tells
    /// its commands how it ended and takes it out of the pool.
    async fn watch(&self, pooled: Arc<Pooled>, mut process: ServerProcess, stdout: WatchedStdout) {
        let reading = pooled.clone();
        let mut reader = tokio::spawn(async move { reading.read(stdout).await });
        let stuck = {
            let activity = pooled.activity.clone();
            async move {
                activity
                    .quiet_after_garbage(crate::client::GARBAGE_QUIET)
                    .await
            }
        };
        tokio::pin!(stuck);
        let mut stuck_told = false;
        let stopped = loop {
            tokio::select! {
                _ = &mut reader => break false,
                _ = process.wait() => {
                    // No new command is given it; what it wrote just before
                    // it exited is still read (its stdout may stay open: a
                    // process it started).
                    self.forget(&pooled);
                    let _ = tokio::time::timeout(super::super::link::EXIT_GRACE, &mut reader).await;
                    break false;
                }
                () = pooled.stop.notified() => break true,
                () = pooled.retire.notified() => self.set_aside(&pooled),
                () = &mut stuck, if !stuck_told => {
                    stuck_told = true;
                    pooled.stuck();
                }
            }
        };
        reader.abort();
        self.forget(&pooled);
        // Its stdin closed: the first step of the MCP order.
        pooled.close_stdin();
        // Its last lines went to the commands as it wrote them.
        let ended = if stopped {
            process
                .shutdown(Stop {
                    eof: EOF_GRACE,
                    at_least: std::time::Duration::ZERO,
                    deadline: None,
                })
                .await;
            Some("stopped by the daemon".to_owned())
        } else {
            let (_, ended) = process.settle().await;
            process
                .shutdown(Stop {
                    eof: Duration::ZERO,
                    at_least: Duration::ZERO,
                    deadline: None,
                })
                .await;
            ended
        };
        // What it left outside its group, now the daemon's; the other
        // servers stay. (No await meanwhile: none can start unregistered.)
        process::stop_orphans(Duration::from_millis(500), Some(self.supervisor));
        self.log.write(&format!(
            "{}: pid {} {}",
            pooled.logged,
            pooled.pid,
            ended.as_deref().unwrap_or("gone")
        ));
        pooled.gone(Event::Gone {
            ended,
            garbage: pooled.activity.wrote_garbage(),
            overflowed: pooled.activity.wrote_too_much(),
        });
    }

    /// Takes `pooled` out of the pool: the next command starts a new one.
    fn forget(&self, pooled: &Pooled) {
        self.pool
            .lock()
            .expect("pool lock")
            .retain(|_, held| !std::ptr::eq(Arc::as_ptr(held), pooled));
        self.record();
    }

    /// Sets `pooled` aside: held under a key no command asks for, it
    /// serves the commands attached, and stops once they are done; the
    /// next command starts a new one.
    fn set_aside(&self, pooled: &Arc<Pooled>) {
        let mut pool = self.pool.lock().expect("pool lock");
        pool.retain(|_, held| !Arc::ptr_eq(held, pooled));
        pool.insert(
            format!("{} set aside {}", pooled.key, pooled.pid),
            pooled.clone(),
        );
        drop(pool);
        pooled.lock().retired = true;
        self.log.write(&format!(
            "{}: pid {} did not answer a ping after a cancellation; set aside",
            pooled.logged, pooled.pid
        ));
        self.changed.notify_one();
    }

    /// Stops the servers unused for their idle time.
    fn stop_idle(&self) {
        let pool = self.pool.lock().expect("pool lock");
        for pooled in pool.values() {
            let mut state = pooled.lock();
            if state.clients.is_empty()
                && !state.stopping
                && (state.retired || state.last_used.elapsed() >= state.idle)
            {
                state.stopping = true;
                self.log.write(&format!(
                    "{}: {}, stopping",
                    pooled.logged,
                    if state.retired {
                        "unresponsive".to_owned()
                    } else {
                        format!("idle for {}", crate::error::format_duration(state.idle))
                    }
                ));
                pooled.stop.notify_one();
            }
        }
    }

    /// Stops every server, in the MCP order, at once; returns how many.
    async fn stop_all(&self) -> usize {
        let pooled: Vec<Arc<Pooled>> = self
            .pool
            .lock()
            .expect("pool lock")
            .values()
            .cloned()
            .collect();
        for server in &pooled {
            server.lock().stopping = true;
            server.stop.notify_one();
        }
        // Each is stopped by its watcher.
        let limit = Instant::now() + EOF_GRACE + process::SHUTDOWN_GRACE + Duration::from_secs(1);
        while self.live.load(Ordering::SeqCst) > 0 && Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pooled.len()
    }

    /// What `daemon status` shows.
    fn status(&self) -> Status {
        let pool = self.pool.lock().expect("pool lock");
        let mut servers: Vec<super::Pooled> = pool
            .values()
            .map(|pooled| {
                let state = pooled.lock();
                super::Pooled {
                    server: pooled.server.clone(),
                    pid: (pooled.remote.is_none()).then_some(pooled.pid),
                    state: if state.stopping {
                        "stopping"
                    } else if matches!(state.init, Init::Done(_)) {
                        "ready"
                    } else {
                        "starting"
                    }
                    .to_owned(),
                    idle_secs: if state.clients.is_empty() {
                        state.last_used.elapsed().as_secs_f64()
                    } else {
                        0.0
                    },
                    requests: state.requests,
                    calls: state.calls,
                    clients: state.clients.len(),
                    last_error: state.last_error.clone(),
                }
            })
            .collect();
        servers.sort_by(|a, b| a.server.cmp(&b.server).then(a.pid.cmp(&b.pid)));
        Status {
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs_f64(),
            socket: self.place.socket.display().to_string(),
            clients: self.clients.load(Ordering::SeqCst).saturating_sub(1),
            servers,
        }
    }

    /// Records the servers' process groups with their start times, for a
    /// daemon that follows one killed outright.
    fn record(&self) {
        let pids: Vec<u32> = self
            .pool
            .lock()
            .expect("pool lock")
            .values()
            .filter(|pooled| pooled.remote.is_none())
            .map(|pooled| pooled.pid)
            .collect();
        let text: String = pids
            .iter()
            .filter_map(|&pid| Some(format!("{pid} {}\n", start_time(pid)?)))
            .collect();
        let path = self.place.file("servers");
        let temporary = self.place.file("servers.new");
        if std::fs::write(&temporary, text).is_ok() {
            let _ = std::fs::rename(&temporary, &path);
        }
    }
}

/// Stops the server groups a daemon before this one recorded and that
/// still run (the same process: the same start time).
fn stop_recorded(place: &Place, log: &Log) {
    let Ok(text) = std::fs::read_to_string(place.file("servers")) else {
        return;
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(Ok(pid)), Some(Ok(recorded))) = (
            words.next().map(str::parse::<u32>),
            words.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let Ok(group) = i32::try_from(pid) else {
            continue;
        };
        // The group, if its leader still runs; else what is left of it (a
        // server's child, its leader killed by the parent-death signal),
        // started after it.
        let alive = start_time(pid) == Some(recorded) || !group_members(group, recorded).is_empty();
        if alive {
            log.write(&format!("stopping pid {pid}, left by a daemon that died"));
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(group, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_millis(500);
            // SAFETY: signal 0 only checks that the group still exists.
            while Instant::now() < deadline && unsafe { libc::killpg(group, 0) } == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
            // SAFETY: as above.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
    }
    let _ = std::fs::remove_file(place.file("servers"));
}

/// The processes of group `group` started no earlier than `since` (clock
/// ticks since boot): what a recorded server left (Linux; none elsewhere).
fn group_members(group: i32, since: u64) -> Vec<u32> {
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        let fields: Vec<&str> =
                            stat.rsplit_once(')')?.1.split_whitespace().collect();
                        // Fields 5 (pgrp) and 22 (start time), after `(comm)`.
                        let pgrp: i32 = fields.get(2)?.parse().ok()?;
                        let started: u64 = fields.get(19)?.parse().ok()?;
                        Some(pgrp == group && started >= since)
                    })
                    .unwrap_or(false)
            })
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (group, since);
        Vec::new()
    }
}

/// When process `pid` started, in clock ticks since boot (Linux); `None`
/// elsewhere, where nothing is recorded.
fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22, counted after the `(comm)` that may hold spaces.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(19)?
            .parse()
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The pool key: the entry (its name too: two entries are two servers, as
/// without the daemon) and everything that changes what is started, less
/// the variables that change with every shell.
fn key(connect: &Connect) -> String {
    let keyed = match &connect.http {
        // What reaches it: the URL, the headers, the transport, and the
        // variables that change the route (the rest of the environment and
        // the directory mean nothing to it).
        Some(http) => {
            let network: Vec<&(String, String)> = connect
                .inherit
                .iter()
                .filter(|(name, _)| super::NETWORK.contains(&name.as_str()))
                .collect();
            serde_json::json!([
                connect.server,
                http.url,
                http.headers,
                http.kind,
                network,
                http.oauth,
                http.tokens
            ])
        }
        None => {
            let mut inherit: Vec<&(String, String)> = connect
                .inherit
                .iter()
                .filter(|(name, _)| !VOLATILE.contains(&name.as_str()))
                .collect();
            inherit.sort();
            serde_json::json!([
                connect.server,
                connect.command,
                connect.args,
                connect.env,
                connect.cwd,
                connect.dir,
                connect.umask,
                inherit,
            ])
        }
    };
    let digest = sha2::Sha256::digest(keyed.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The line for an event of the daemon's own.
fn event(event: &Event) -> Line {
    let mut line = b"#".to_vec();
    line.extend(serde_json::to_vec(event).unwrap_or_default());
    line.push(b'\n');
    Arc::new(line)
}

/// The largest hello read (a command's whole environment is in it).
const HELLO_BYTES: usize = 16 << 20;

/// Says why a command is not relayed to, and then reads what it sent
/// meanwhile (its `initialize`) to its end, so that it reads why before its
/// writes fail.
async fn refuse(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    mut writer: tokio::net::unix::OwnedWriteHalf,
    why: &Event,
) {
    let _ = writer.write_all(&event(why)).await;
    let _ = writer.shutdown().await;
    let drain = async {
        let mut line = Vec::new();
        while let Ok(true) = read_line(reader, &mut line, MAX_MESSAGE_BYTES).await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// Reads one line into `line` (cleared first), its newline dropped; `false`
/// at the end of the stream or past `limit` bytes.
async fn read_line(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<bool> {
    line.clear();
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(false);
        }
        let (piece, ended) = match memchr::memchr(b'\n', buffer) {
            Some(at) => (&buffer[..at], true),
            None => (buffer, false),
        };
        line.extend_from_slice(piece);
        let used = piece.len() + usize::from(ended);
        reader.consume(used);
        if line.len() > limit {
            return Ok(false);
        }
        if ended {
            return Ok(true);
        }
    }
}

/// One pooled server.
struct Pooled {
    key: String,
    /// Its name, as the command that started it knows it.
    server: String,
    /// How the log names it: by its name, or a remote server by its host
    /// (a URL target is named by its URL, which may hold a token).
    logged: String,
    pid: u32,
    /// Lines for its stdin, written by its writer task.
    stdin: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    /// The writer task, aborted to close its stdin.
    writer: Mutex<Option<tokio::task::AbortHandle>>,
    tail: process::StderrTail,
    activity: process::Activity,
    state: Mutex<State>,
    /// Asks its watcher to stop it.
    stop: Notify,
    /// Asks its watcher to set it aside (see [`State::retired`]).
    retire: Notify,
    /// A remote server's connection (a child's has `stdin`).
    remote: Option<Remote>,
}

/// A remote server's connection, through the daemon's own client: requests
/// are sent on it one task each, and answered as the server's JSON.
struct Remote {
    /// Set once connected; taken to end it.
    session: Mutex<Option<Arc<crate::client::Session>>>,
    /// Requests in flight: wire id → the command, and the task sending it
    /// (aborted, it cancels the request).
    calls: Mutex<HashMap<i64, (u64, tokio::task::AbortHandle)>>,
    /// Progress tokens of the requests in flight → the command and the
    /// request's wire id.
    progress: Mutex<HashMap<String, (u64, i64)>>,
}

/// Where a command's lines go: its queue, and how many stderr lines wait
/// in it (see [`STDERR_QUEUE`]).
#[derive(Clone)]
struct ClientEnd {
    sender: mpsc::UnboundedSender<Line>,
    stderr_queued: Arc<AtomicUsize>,
}

impl ClientEnd {
    fn send(&self, line: Line) {
        let _ = self.sender.send(line);
    }
}

/// Where the server's `initialize` stands.
enum Init {
    NotSent,
    /// Sent for a command, under this wire id.
    Sent(i64),
    /// Answered: the result, for every command after the first.
    Done(Box<RawValue>),
}

struct State {
    /// The commands attached, by number: where their lines go.
    clients: HashMap<u64, ClientEnd>,
    next_client: u64,
    /// Requests sent and not answered: wire id → command.
    pending: HashMap<i64, u64>,
    init: Init,
    /// Commands waiting for the first `initialize` to be answered, with
    /// the id of theirs.
    waiting: Vec<(u64, Box<RawValue>)>,
    stuck: bool,
    garbage: bool,
    requests: u64,
    calls: u64,
    last_used: Instant,
    last_error: Option<String>,
    idle: Duration,
    stopping: bool,
    /// Found unresponsive after a request was abandoned: given to no new
    /// command, and stopped once its commands are done.
    retired: bool,
    /// Pings of the daemon's own, waiting for their answer, by wire id.
    pings: HashMap<i64, tokio::sync::oneshot::Sender<()>>,
    /// A health check runs.
    checking: bool,
}

impl State {
    fn new(init: Init, idle_ms: u64) -> State {
        State {
            clients: HashMap::new(),
            next_client: 0,
            pending: HashMap::new(),
            init,
            waiting: Vec::new(),
            stuck: false,
            garbage: false,
            requests: 0,
            calls: 0,
            last_used: Instant::now(),
            last_error: None,
            idle: Duration::from_millis(idle_ms),
            stopping: false,
            retired: false,
            pings: HashMap::new(),
            checking: false,
        }
    }
}

/// The top of a command's line.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
}

/// An answer's result, if it is one.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
}

impl Pooled {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("pooled state lock")
    }

    /// Attaches a command: its number, and where its lines come from.
    fn attach(&self, idle_ms: u64) -> (u64, mpsc::UnboundedReceiver<Line>, Arc<AtomicUsize>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let end = ClientEnd {
            sender,
            stderr_queued: Arc::new(AtomicUsize::new(0)),
        };
        end.send(event(&Event::Ready { pid: self.pid }));
        // Whether it is broken already; the server's stderr from now on
        // (what it wrote for commands before is theirs).
        let mut state = self.lock();
        if state.garbage {
            end.send(event(&Event::Garbage));
        }
        if state.stuck && !matches!(state.init, Init::Done(_)) {
            end.send(event(&Event::Stuck));
        }
        let id = state.next_client;
        state.next_client += 1;
        let queued = end.stderr_queued.clone();
        state.clients.insert(id, end);
        state.idle = Duration::from_millis(idle_ms);
        state.last_used = Instant::now();
        (id, receiver, queued)
    }

    /// A line the server wrote to stderr, to every command attached that
    /// is not behind on them.
    fn stderr(&self, text: &str) {
        let line = event(&Event::Stderr(text.to_owned()));
        for end in self.lock().clients.values() {
            if end.stderr_queued.load(Ordering::SeqCst) < STDERR_QUEUE {
                end.stderr_queued.fetch_add(1, Ordering::SeqCst);
                end.send(line.clone());
            }
        }
    }

    /// Detaches a command: its requests still pending are cancelled.
    async fn detach(self: &Arc<Self>, client: u64) {
        let abandoned: Vec<i64> = {
            let mut state = self.lock();
            state.clients.remove(&client);
            state.waiting.retain(|(waiting, _)| *waiting != client);
            state.last_used = Instant::now();
            let mine: Vec<i64> = state
                .pending
                .iter()
                .filter(|(_, owner)| **owner == client)
                .map(|(wire, _)| *wire)
                .collect();
            for wire in &mine {
                state.pending.remove(wire);
            }
            // `initialize` is never cancelled (the spec). Unanswered when
            // its command gave up, it says the server does not start: the
            // next command gets another (as does a remote one still being
            // connected to when no command is left waiting).
            let init = match state.init {
                Init::Sent(wire) => Some(wire),
                _ => None,
            };
            let gave_up = init.is_some_and(|init| mine.contains(&init))
                || (self.remote.is_some() && init.is_some() && state.clients.is_empty());
            if gave_up && !state.retired {
                self.retire.notify_one();
            }
            mine.into_iter()
                .filter(|wire| Some(*wire) != init)
                .collect()
        };
        if let Some(remote) = &self.remote {
            let mut calls = remote.calls.lock().expect("calls lock");
            calls.retain(|_, (owner, call)| {
                if *owner == client {
                    call.abort();
                }
                *owner != client
            });
            return;
        }
        let any = !abandoned.is_empty();
        for wire in abandoned {
            let cancel = format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{wire},"reason":"the mcp-cli command went away"}}}}"#
            );
            self.to_server(cancel.as_bytes()).await;
        }
        if any {
            self.check_health();
        }
    }

    /// After a request was abandoned (cancelled, or its command gone):
    /// checks in a moment that the server still answers a `ping`, and has
    /// it set aside if it does not (a server busy for good with what was
    /// cancelled, as a command alone would have stopped it).
    fn check_health(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.checking || state.retired || self.remote.is_some() {
                return;
            }
            state.checking = true;
        }
        let pooled = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PING_AFTER).await;
            // Below every command's ids, which are not negative.
            let wire = -i64::from(pooled.pid) - 1;
            let (answered, answer) = tokio::sync::oneshot::channel();
            pooled.lock().pings.insert(wire, answered);
            let ping = format!(r#"{{"jsonrpc":"2.0","id":{wire},"method":"ping"}}"#);
            pooled.to_server(ping.as_bytes()).await;
            let alive = tokio::time::timeout(PING_WITHIN, answer).await.is_ok();
            let mut state = pooled.lock();
            state.pings.remove(&wire);
            state.checking = false;
            drop(state);
            if !alive {
                pooled.retire.notify_one();
            }
        });
    }

    /// Sends `line` to every command attached.
    fn broadcast(&self, line: &Line) {
        for end in self.lock().clients.values() {
            end.send(line.clone());
        }
    }

    /// Tells the commands the server is stuck.
    fn stuck(&self) {
        let line = {
            let mut state = self.lock();
            if matches!(state.init, Init::Done(_)) {
                return;
            }
            state.stuck = true;
            state.last_error = Some("wrote what is not JSON-RPC, then nothing".to_owned());
            event(&Event::Stuck)
        };
        self.broadcast(&line);
    }

    /// Tells the commands the server is gone, and lets them go.
    fn gone(&self, gone: Event) {
        let line = event(&gone);
        let mut state = self.lock();
        if let Event::Gone {
            ended: Some(ended), ..
        } = &gone
            && !state.stopping
        {
            state.last_error = Some(ended.clone());
        }
        for (_, end) in state.clients.drain() {
            end.send(line.clone());
        }
    }

    /// Queues one line for the server's stdin; dropped when the server has
    /// not read the last [`STDIN_QUEUE`] (the request then waits for its
    /// command's timeout, as it would on a full pipe).
    async fn to_server(&self, line: &[u8]) {
        let mut whole = Vec::with_capacity(line.len() + 1);
        whole.extend_from_slice(line);
        whole.push(b'\n');
        if let Some(stdin) = self.stdin.lock().expect("stdin lock").as_ref() {
            let _ = stdin.try_send(whole);
        }
    }

    /// Closes the server's stdin, whatever its writer was doing.
    fn close_stdin(&self) {
        self.stdin.lock().expect("stdin lock").take();
        if let Some(writer) = self.writer.lock().expect("writer lock").take() {
            writer.abort();
        }
    }

    /// A line from command `client`.
    async fn client_line(self: &Arc<Self>, client: u64, line: &[u8]) {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
            return;
        };
        let wire = head.id.and_then(wire_of);
        match (head.method.as_deref(), head.id) {
            (Some("initialize"), Some(id)) => {
                let answer = {
                    let mut state = self.lock();
                    state.last_used = Instant::now();
                    match &state.init {
                        Init::Done(result) => Some(answer_with(id, result)),
                        Init::Sent(_) => {
                            state.waiting.push((client, id.to_owned()));
                            return;
                        }
                        Init::NotSent => {
                            let Some(wire) = wire else { return };
                            state.init = Init::Sent(wire);
                            state.pending.insert(wire, client);
                            None
                        }
                    }
                };
                match answer {
                    Some(answer) => self.to_client(client, answer),
                    None => self.to_server(line).await,
                }
            }
            // The daemon sent it once, for all.
            (Some("notifications/initialized"), None) => {}
            (Some(_), Some(id)) if self.remote.is_some() => {
                let Some(wire) = wire else { return };
                self.forward(client, wire, id, line);
            }
            (Some("notifications/cancelled"), None) if let Some(remote) = &self.remote => {
                let mut calls = remote.calls.lock().expect("calls lock");
                if let Some(wire) = cancelled_id(line)
                    && calls.get(&wire).is_some_and(|(owner, _)| *owner == client)
                    && let Some((_, call)) = calls.remove(&wire)
                {
                    // Dropped, the request is cancelled upstream.
                    call.abort();
                }
            }
            // Nothing else is passed on to a remote server: its own client
            // in the daemon answers its requests, as a command's would.
            _ if self.remote.is_some() => {}
            (Some(method), Some(_)) => {
                {
                    let mut state = self.lock();
                    if let Some(wire) = wire {
                        state.pending.insert(wire, client);
                    }
                    state.requests += 1;
                    if method == "tools/call" {
                        state.calls += 1;
                    }
                    state.last_used = Instant::now();
                }
                self.to_server(line).await;
            }
            // Notifications (`notifications/cancelled`, which settles the
            // request: not cancelled again when the command goes), and
            // answers to the server's own requests.
            (method, _) => {
                if method == Some("notifications/cancelled")
                    && let Some(wire) = cancelled_id(line)
                {
                    let mut state = self.lock();
                    if state.pending.get(&wire) == Some(&client) {
                        state.pending.remove(&wire);
                    }
                }
                self.to_server(line).await;
                if method == Some("notifications/cancelled") {
                    self.check_health();
                }
            }
        }
    }

    /// Sends a line to command `client`, if it is still there.
    fn to_client(&self, client: u64, line: Line) {
        if let Some(end) = self.lock().clients.get(&client) {
            end.send(line);
        }
    }

    /// Reads the server's stdout to its end, routing each line.
    async fn read(&self, stdout: WatchedStdout) {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line).await {
                // The last line, cut off by the exit, is dropped as a
                // command's own transport drops it.
                Ok(_) if line.ends_with(b"\n") => self.server_line(line).await,
                _ => return,
            }
        }
    }

    /// A line from the server.
    async fn server_line(&self, line: Vec<u8>) {
        let text = line.trim_ascii();
        let text = text
            .strip_prefix(b"\xef\xbb\xbf")
            .unwrap_or(text)
            .trim_ascii();
        if !(text.starts_with(b"{") || text.starts_with(b"[")) {
            // Noted in the tail by the watched stdout, and so relayed.
            let first = {
                let mut state = self.lock();
                !std::mem::replace(&mut state.garbage, true) && !text.is_empty()
            };
            if first {
                self.broadcast(&event(&Event::Garbage));
            }
            return;
        }
        let (id, method) = guard::top_level(text);
        // The line as it goes on: as read when nothing was trimmed.
        let whole = |text: &[u8]| -> Line {
            if text.len() + 1 == line.len() {
                Arc::new(line.clone())
            } else {
                let mut out = text.to_vec();
                out.push(b'\n');
                Arc::new(out)
            }
        };
        match (id, method) {
            // A request of the server's: for a command waiting on it (its
            // client answers it), else answered here.
            (Id::Wire(_) | Id::Other, true) => {
                let waiting = {
                    let state = self.lock();
                    state
                        .pending
                        .values()
                        .next()
                        .and_then(|client| state.clients.get(client).cloned())
                };
                match waiting {
                    Some(end) => {
                        end.send(whole(text));
                    }
                    None => self.answer_for_nobody(text).await,
                }
            }
            (_, true) => {
                // Progress goes to the command whose request it reports on.
                let Ok(head) = serde_json::from_slice::<Head<'_>>(text) else {
                    return;
                };
                if head.method.as_deref() != Some("notifications/progress") {
                    return;
                }
                let client = head
                    .params
                    .and_then(|params| params.progress_token)
                    .and_then(wire_of)
                    .and_then(|wire| self.lock().pending.get(&wire).copied());
                if let Some(client) = client {
                    self.to_client(client, whole(text));
                }
            }
            (Id::Wire(wire), false) if wire < 0 => {
                if let Some(answered) = self.lock().pings.remove(&wire) {
                    let _ = answered.send(());
                }
            }
            (Id::Wire(wire), false) => {
                let (client, initialized) = {
                    let mut state = self.lock();
                    let client = state.pending.remove(&wire);
                    let initialized = matches!(state.init, Init::Sent(sent) if sent == wire);
                    (client, initialized)
                };
                if initialized {
                    self.initialized(text).await;
                }
                if let Some(client) = client {
                    self.to_client(client, whole(text));
                }
            }
            // An answer that names no request (a parse error, `id: null`):
            // every command waiting hears it, and fails as it would alone.
            (Id::Absent | Id::Other, false) => {
                let line = whole(text);
                let state = self.lock();
                let waiting: std::collections::HashSet<&u64> = state.pending.values().collect();
                for client in waiting {
                    if let Some(end) = state.clients.get(client) {
                        end.send(line.clone());
                    }
                }
            }
        }
    }

    /// The answer to the first `initialize`: kept for every later command
    /// (and given to those waiting), and the server told the client is
    /// initialized. An error is passed to those waiting, and the next
    /// command tries again.
    async fn initialized(&self, text: &[u8]) {
        let result = serde_json::from_slice::<Answer<'_>>(text)
            .ok()
            .and_then(|answer| answer.result.map(ToOwned::to_owned));
        let waiting = {
            let mut state = self.lock();
            let waiting = std::mem::take(&mut state.waiting);
            match &result {
                Some(result) => state.init = Init::Done(result.clone()),
                None => {
                    state.init = Init::NotSent;
                    state.last_error = Some("initialize failed".to_owned());
                }
            }
            waiting
        };
        if result.is_some() {
            self.to_server(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .await;
        }
        for (client, id) in waiting {
            let answer = match &result {
                Some(result) => answer_with(&id, result),
                None => with_id(text, &id),
            };
            self.to_client(client, answer);
        }
    }

    /// Sends command `client`'s request `wire` (`id` as it wrote it) to the
    /// remote server, on a task of its own; its answer, or the failure as
    /// the command would have met it, goes back under the same id.
    fn forward(self: &Arc<Self>, client: u64, wire: i64, id: &RawValue, line: &[u8]) {
        let Some(remote) = &self.remote else { return };
        let Ok(rmcp::model::JsonRpcMessage::Request(request)) =
            serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(line)
        else {
            return;
        };
        {
            let mut state = self.lock();
            state.requests += 1;
            if matches!(
                request.request,
                rmcp::model::ClientRequest::CallToolRequest(_)
            ) {
                state.calls += 1;
            }
            state.last_used = Instant::now();
        }
        let pooled = self.clone();
        let id = id.to_owned();
        let task = tokio::spawn(async move {
            let Some(remote) = &pooled.remote else { return };
            let Some(session) = remote.session.lock().expect("session lock").clone() else {
                return;
            };
            let token = std::sync::Mutex::new(None);
            let result = session
                .forward(request.request, |sent| {
                    let key = serde_json::to_string(sent).unwrap_or_default();
                    remote
                        .progress
                        .lock()
                        .expect("progress lock")
                        .insert(key.clone(), (client, wire));
                    *token.lock().expect("token lock") = Some(key);
                })
                .await;
            if let Some(key) = token.lock().expect("token lock").take() {
                remote.progress.lock().expect("progress lock").remove(&key);
            }
            remote.calls.lock().expect("calls lock").remove(&wire);
            let line = match &result {
                Ok(value) => format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{value}}}\n",
                    id.get()
                ),
                Err(error) => {
                    let error = serde_json::json!({
                        "code": -32603,
                        "message": error.to_string(),
                        "data": {super::RELAYED: super::Failure::of(error)},
                    });
                    format!(
                        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{error}}}\n",
                        id.get()
                    )
                }
            };
            pooled.to_client(client, Arc::new(line.into_bytes()));
            // A session whose connection is gone is not used again (one
            // request's reset is not that).
            if result.is_err() && session.is_closed() {
                pooled.lock().stopping = true;
                pooled.stop.notify_one();
            }
        });
        remote
            .calls
            .lock()
            .expect("calls lock")
            .insert(wire, (client, task.abort_handle()));
    }

    /// A remote server's progress notification, to the command whose
    /// request it reports on, under that request's wire id.
    fn remote_progress(&self, mut progress: rmcp::model::ProgressNotificationParam) {
        let Some(remote) = &self.remote else { return };
        let key = serde_json::to_string(&progress.progress_token).unwrap_or_default();
        let Some(&(client, wire)) = remote.progress.lock().expect("progress lock").get(&key) else {
            return;
        };
        progress.progress_token =
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(wire));
        let line = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": progress,
        });
        self.to_client(client, Arc::new(format!("{line}\n").into_bytes()));
    }

    /// The remote server is connected: its answer to `initialize` goes to
    /// every command waiting, and is kept for those to come.
    fn initialized_remote(&self, result: &serde_json::Value) {
        let Ok(result) = serde_json::value::to_raw_value(result) else {
            return;
        };
        let waiting = {
            let mut state = self.lock();
            state.init = Init::Done(result.clone());
            std::mem::take(&mut state.waiting)
        };
        for (client, id) in waiting {
            self.to_client(client, answer_with(&id, &result));
        }
    }

    /// Answers a request of the server's when no command waits on one:
    /// `ping` as a client must, anything else as not supported.
    async fn answer_for_nobody(&self, text: &[u8]) {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(text) else {
            return;
        };
        let Some(id) = head.id else { return };
        let answer = if head.method.as_deref() == Some("ping") {
            format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get())
        } else {
            format!(
                r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32601,"message":"no mcp-cli command is waiting to answer this request"}}}}"#,
                id.get()
            )
        };
        self.to_server(answer.as_bytes()).await;
    }
}

/// The request a `notifications/cancelled` names, by its wire id.
fn cancelled_id(line: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Cancelled<'a> {
        #[serde(borrow)]
        params: Option<CancelledParams<'a>>,
    }
    #[derive(Deserialize)]
    struct CancelledParams<'a> {
        #[serde(borrow, rename = "requestId")]
        request_id: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Cancelled<'_>>(line)
        .ok()?
        .params?
        .request_id
        .and_then(wire_of)
}

/// A result answer under `id`.
fn answer_with(id: &RawValue, result: &RawValue) -> Line {
    Arc::new(
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}\n",
            id.get(),
            result.get()
        )
        .into_bytes(),
    )
}

/// The answer `text` under `id` instead of its own.
fn with_id(text: &[u8], id: &RawValue) -> Line {
    let mut answer: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(text).unwrap_or_default();
    answer.insert(
        "id".to_owned(),
        serde_json::from_str(id.get()).unwrap_or(serde_json::Value::Null),
    );
    let mut line = serde_json::to_vec(&answer).unwrap_or_default();
    line.push(b'\n');
    Arc::new(line)
}

/// The daemon's log, in the user's state directory, bounded: past
/// [`LOG_BYTES`] it is renamed to `daemon.log.1` and begun again. It holds
/// events (servers started and stopped, by name and pid), never a command
/// line, a variable or a message.
struct Log {
    path: Option<std::path::PathBuf>,
    file: Mutex<Option<std::fs::File>>,
}

impl Log {
    fn open() -> Log {
        let path = crate::config::trust::state_dir().and_then(|dir| {
            crate::config::trust::create_private_dir(&dir).ok()?;
            Some(dir.join("daemon.log"))
        });
        let log = Log {
            file: Mutex::new(None),
            path,
        };
        log.reopen();
        log
    }

    fn reopen(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        let Some(path) = &self.path else { return };
        if std::fs::metadata(path).is_ok_and(|metadata| metadata.len() > LOG_BYTES) {
            let _ = std::fs::rename(path, path.with_extension("log.1"));
        }
        *self.file.lock().expect("log lock") = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .ok();
    }

    fn write(&self, message: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let line = format!(
            "{}.{:03} [{}] {}\n",
            now.as_secs(),
            now.subsec_millis(),
            std::process::id(),
            message
        );
        let full = {
            let mut file = self.file.lock().expect("log lock");
            let Some(file) = file.as_mut() else { return };
            let _ = file.write_all(line.as_bytes());
            file.metadata()
                .is_ok_and(|metadata| metadata.len() > LOG_BYTES)
        };
        if full {
            self.reopen();
        }
    }
}
