//! Server child processes: spawn, drain stderr, stop, and never leave one behind.
//!
//! Each server runs in its own process group, so stopping it also stops what
//! it started (`npx` starts `node`, shells start their pipelines). Its stderr
//! is read on a task into a bounded buffer, whose last lines explain a
//! failure, and streamed with the server's name under `MCP_DEBUG`. Every
//! live group is registered with the command's [`Supervisor`], which a
//! signal handler can reach to stop them all.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use crate::config::Setting;
use crate::error::McpError;

/// Lines of server stderr kept for error messages.
const STDERR_LINES: usize = 20;
/// Of which the first lines.
const STDERR_HEAD_LINES: usize = 5;
/// Longest stderr line kept, in bytes; longer ones are cut.
const STDERR_LINE_BYTES: usize = 1000;
/// How long a server gets to exit by itself once its stdin is closed,
/// before SIGTERM: the order of stopping the MCP spec gives, so that a
/// server still writing its state is not cut off.
pub const EOF_GRACE: Duration = Duration::from_secs(2);
/// How long a server gets to exit after SIGTERM before SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);

/// How long a server gets to exit by itself once a signal asked mcp-cli
/// to stop (also its time to read a cancellation).
pub const SIGNALLED_GRACE: Duration = Duration::from_millis(250);

/// The shortest wait at each step of stopping a server, even past the
/// command's deadline.
const STOP_FLOOR: Duration = Duration::from_millis(100);

/// How the steps of stopping a server are timed.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    /// Its time to exit by itself once its stdin is closed ([`EOF_GRACE`]).
    pub eof: Duration,
    /// The least of that time, whatever the deadline: its chance to read
    /// a cancellation.
    pub at_least: Duration,
    /// When the command must be done: each wait shrinks to what is left
    /// then (never below [`STOP_FLOOR`]), measured when it starts.
    pub deadline: Option<tokio::time::Instant>,
}

impl Stop {
    /// `wait`, shrunk to what is left of the deadline now.
    pub fn bound(&self, wait: Duration) -> Duration {
        match self.deadline {
            Some(deadline) => wait.min(
                deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(STOP_FLOOR),
            ),
            None => wait,
        }
    }
}

/// The largest message read from a server, newline included. A longer
/// line (a result of hundreds of megabytes, or a server that never ends its
/// line) ends the connection with [`McpError::MessageTooLarge`] rather than
/// growing without bound; rmcp's own limit (16 MiB, past which it drops the
/// line and the request waits forever) is lifted in its favour.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// How long a killed server is waited for, to be reaped.
const REAP_GRACE: Duration = Duration::from_millis(100);

/// Room in the registry of live groups; a server past it is still stopped
/// with its command, only not by a forced exit.
const MAX_LIVE: usize = 1024;

/// The process groups of the servers one owner (a command; the daemon to
/// come) started: it stops them all at the end, and so does a signal
/// handler or a panic hook that reaches it. Lock-free (0 is a free slot),
/// so a signal handler can read it while the main thread is anywhere.
pub struct Supervisor {
    groups: [AtomicI32; MAX_LIVE],
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("live_groups", &self.live_groups().count())
            .finish()
    }
}

impl Supervisor {
    /// A supervisor that lives as long as the process: a signal handler
    /// may reach it at any moment until the exit.
    pub fn new() -> &'static Supervisor {
        Box::leak(Box::new(Supervisor {
            groups: [const { AtomicI32::new(0) }; MAX_LIVE],
        }))
    }

    /// Records a live group, if there is room.
    fn register(&self, group: i32) {
        let _ = self.groups.iter().any(|slot| {
            slot.compare_exchange(0, group, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
    }

    fn unregister(&self, group: i32) {
        for slot in &self.groups {
            let _ = slot.compare_exchange(group, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    fn live_groups(&self) -> impl Iterator<Item = i32> {
        self.groups
            .iter()
            .map(|slot| slot.load(Ordering::SeqCst))
            .filter(|&group| group != 0)
    }

    /// Stops every live server group: SIGTERM, up to `grace` for them to
    /// go, SIGKILL. Async-signal-safe (no lock, no allocation), so the
    /// signal handler can call it before it exits.
    pub fn stop_all(&self, grace: Duration) {
        if self.live_groups().next().is_none() {
            return;
        }
        for group in self.live_groups() {
            send_to_group(group, Signal::Term);
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline && self.live_groups().any(group_alive) {
            std::thread::sleep(Duration::from_millis(10));
        }
        for group in self.live_groups() {
            reap(group);
            send_to_group(group, Signal::Kill);
        }
    }
}

/// The first and last lines a server wrote to stderr (and to stdout, when
/// not JSON-RPC): the first often say what went wrong (a bad argument, a
/// missing file) before a usage text or a stack trace pushes them out of the
/// tail.
#[derive(Debug, Clone, Default)]
pub struct StderrTail(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    head: Vec<String>,
    tail: VecDeque<String>,
    skipped: usize,
    /// Who hears of each line as it comes (the daemon relays them).
    listener: Option<Listener>,
}

/// Who hears of each stderr line as it comes.
type Listener = Box<dyn Fn(&str) + Send>;

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("lines", &(self.head.len() + self.tail.len()))
            .finish()
    }
}

impl StderrTail {
    /// Keeps `line`, and hands it to the listener if there is one.
    pub(super) fn push(&self, line: String) {
        let mut kept = self.0.lock().expect("stderr buffer lock");
        if let Some(listener) = &kept.listener {
            listener(&line);
        }
        if kept.head.len() < STDERR_HEAD_LINES {
            return kept.head.push(line);
        }
        if kept.tail.len() == STDERR_LINES - STDERR_HEAD_LINES {
            kept.tail.pop_front();
            kept.skipped += 1;
        }
        kept.tail.push_back(line);
    }

    /// Hands every line from now on to `listener` too.
    pub(super) fn listen(&self, listener: impl Fn(&str) + Send + 'static) {
        self.0.lock().expect("stderr buffer lock").listener = Some(Box::new(listener));
    }

    /// A copy of the kept lines, oldest first, with a line saying how many
    /// were left out between the first and the last.
    pub fn lines(&self) -> Vec<String> {
        let kept = self.0.lock().expect("stderr buffer lock");
        let mut lines = kept.head.clone();
        if kept.skipped > 0 {
            lines.push(format!("... ({} lines left out)", kept.skipped));
        }
        lines.extend(kept.tail.iter().cloned());
        lines
    }
}

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: super::spawn::Child,
    /// Readable once the process has exited (Linux); made at the first wait.
    #[cfg(target_os = "linux")]
    exit_fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    group: Option<i32>,
    /// Where its group is registered.
    supervisor: &'static Supervisor,
    stderr: StderrTail,
    drain: Option<JoinHandle<()>>,
}

/// What to run.
pub struct Launch<'a> {
    /// The server's name, for messages.
    pub server: &'a str,
    /// The program.
    pub command: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// Added environment.
    pub env: &'a [Setting],
    /// Working directory.
    pub cwd: Option<&'a std::path::Path>,
    /// The environment to start from; `None`: mcp-cli's.
    pub base_env: super::spawn::BaseEnv<'a>,
    /// The directory it starts in when `cwd` is not given, and that a
    /// relative `cwd` starts from; `None`: mcp-cli's (the daemon gives its
    /// caller's).
    pub dir: Option<&'a std::path::Path>,
    /// Stream stderr live.
    pub debug: bool,
    /// Who stops it, whatever happens.
    pub supervisor: &'static Supervisor,
}

/// A server process just started, not yet attached to the async runtime:
/// [`start`] needs no runtime, so a command can start its server before it
/// builds one, and the server boots meanwhile. Dropped unattached, it is
/// stopped like any other.
#[derive(Debug)]
pub struct Started {
    server: String,
    command: String,
    debug: bool,
    process: ServerProcess,
}

/// Starts the server process, in a process group of its own.
pub fn start(launch: &Launch<'_>) -> Result<Started, McpError> {
    // A forced exit waits until the server is registered, so it cannot miss
    // one that is just starting.
    let cwd = match (launch.dir, launch.cwd) {
        (Some(dir), cwd) => Some(cwd.map_or_else(|| dir.to_path_buf(), |cwd| dir.join(cwd))),
        (None, cwd) => cwd.map(std::path::Path::to_path_buf),
    };
    let spawned = crate::signals::deferred(|| {
        let child = super::spawn::spawn(
            launch.command,
            launch.args,
            launch.env,
            cwd.as_deref(),
            launch.base_env,
        )?;
        let group = i32::try_from(child.id()).ok();
        if let Some(group) = group {
            launch.supervisor.register(group);
        }
        Ok((child, group))
    });
    let (child, group) = spawned.map_err(|source| {
        let (source, fix) = match diagnose(launch, cwd.as_deref(), &source) {
            Some((cause, fix)) => (
                std::io::Error::new(source.kind(), format!("{cause} ({source})")),
                Some(fix),
            ),
            None => (source, None),
        };
        McpError::Spawn {
            server: launch.server.to_owned(),
            command: crate::redact::value(launch.command),
            source,
            fix,
        }
    })?;
    crate::debug!(
        "{}: started `{}`, pid {}",
        launch.server,
        crate::redact::value(launch.command),
        child.id()
    );
    Ok(Started {
        server: launch.server.to_owned(),
        command: launch.command.to_owned(),
        debug: launch.debug,
        process: ServerProcess {
            child,
            #[cfg(target_os = "linux")]
            exit_fd: None,
            group,
            supervisor: launch.supervisor,
            stderr: StderrTail::default(),
            drain: None,
        },
    })
}

/// Why a server could not start, in the config's terms, and what to do,
/// when the OS error alone would mislead: a missing working directory, a
/// missing `#!` interpreter, a script with Windows line endings and a binary
/// built for another system all read "No such file or directory", and a
/// directory or a file without the execute bit "Permission denied".
fn diagnose(
    launch: &Launch<'_>,
    cwd: Option<&std::path::Path>,
    error: &std::io::Error,
) -> Option<(String, String)> {
    use std::io::Read;
    use std::path::{Path, PathBuf};
    // Out of descriptors or processes: the command is fine, the system is full.
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => {
            return Some((
                "mcp-cli ran out of file descriptors".to_owned(),
                "raise the limit (`ulimit -n`), or start fewer servers at once (MCP_CONCURRENCY)"
                    .to_owned(),
            ));
        }
        Some(libc::EAGAIN | libc::ENOMEM) => {
            return Some((
                "the system could not start another process now".to_owned(),
                "retry, or start fewer servers at once (MCP_CONCURRENCY); check `ulimit -u`"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    if let Some(cwd) = cwd {
        // As the config writes it.
        let shown = launch.cwd.unwrap_or(cwd).display();
        let fix =
            "fix `cwd` in the config (relative paths start from the directory mcp-cli runs in)";
        if !cwd.exists() {
            return Some((
                format!("the working directory `{shown}` does not exist"),
                fix.to_owned(),
            ));
        }
        if !cwd.is_dir() {
            return Some((
                format!("the working directory `{shown}` is not a directory"),
                fix.to_owned(),
            ));
        }
    }
    let command = launch.command;
    let path = if command.contains('/') {
        match cwd {
            Some(cwd) => cwd.join(command),
            None => PathBuf::from(command),
        }
    } else {
        // A bare name is looked up on PATH; not found there, the default
        // suggestion fits.
        let path = match launch.base_env {
            Some(base) => base
                .iter()
                .find(|(name, _)| name == "PATH")
                .map(|(_, value)| value.clone()),
            None => std::env::var_os("PATH"),
        };
        std::env::split_paths(&path?)
            .map(|dir| dir.join(command))
            .find(|candidate| candidate.is_file())?
    };
    if path.is_dir() {
        return Some((
            format!("`{command}` is a directory"),
            "point `command` at the server's program".to_owned(),
        ));
    }
    if !path.exists() {
        return Some((
            format!("`{command}` does not exist"),
            "fix `command` in the config (a relative path starts from `cwd`, or else from the directory mcp-cli runs in)".to_owned(),
        ));
    }
    let executable = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        // SAFETY: access(2) on a NUL-terminated path.
        .is_ok_and(|path| unsafe { libc::access(path.as_ptr(), libc::X_OK) } == 0);
    if !executable {
        return Some((
            format!("`{command}` is not executable (by this user, or on this file system)"),
            format!(
                "run `chmod +x {command}`, or run it through its interpreter (`\"command\": \"node\", \"args\": [\"{command}\"]`)"
            ),
        ));
    }
    let mut start = Vec::new();
    std::fs::File::open(&path)
        .ok()?
        .take(256)
        .read_to_end(&mut start)
        .ok()?;
    if error.raw_os_error() == Some(libc::ENOEXEC) {
        return Some((
            format!("`{command}` is neither a program nor a script with a `#!` line"),
            format!("add a `#!` line to `{command}`, or run it through its interpreter"),
        ));
    }
    if error.kind() != std::io::ErrorKind::NotFound {
        return None;
    }
    // It exists, yet "not found": what it asks the system to run first.
    if start.starts_with(b"\x7fELF") {
        return Some((
            format!("`{command}` was built for another system: the loader it needs is missing"),
            "install a build of the server for this system".to_owned(),
        ));
    }
    let line = start
        .split(|&byte| byte == b'\n')
        .next()?
        .strip_prefix(b"#!")?;
    if line.ends_with(b"\r") {
        return Some((
            format!(
                "`{command}` has Windows line endings: its `#!` line ends in a carriage return"
            ),
            format!("convert `{command}` to Unix line endings (`dos2unix` or `sed -i 's/\\r$//'`)"),
        ));
    }
    let interpreter = String::from_utf8_lossy(line)
        .split_whitespace()
        .next()?
        .to_owned();
    (!Path::new(&interpreter).exists()).then(|| {
        (
            format!("its interpreter `{interpreter}` (from its `#!` line) is not installed"),
            format!("install `{interpreter}`, or fix the first line of `{command}`"),
        )
    })
}

impl Started {
    /// Hands the process to the runtime (which must be running): returns it
    /// with the pipes MCP runs over, and starts draining its stderr.
    pub fn attach(self) -> Result<(ServerProcess, WatchedStdout, pipe::Sender), McpError> {
        let Started {
            server,
            command,
            debug,
            mut process,
        } = self;
        let child = &mut process.child;
        let pipes = (
            child.stdin.take().map(pipe::Sender::from_owned_fd),
            child.stdout.take().map(pipe::Receiver::from_owned_fd),
            child.stderr.take().map(pipe::Receiver::from_owned_fd),
        );
        let pipe_error = |source| McpError::Spawn {
            server: server.clone(),
            command: command.clone(),
            source,
            fix: None,
        };
        let missing = || std::io::Error::other("a pipe to the server is missing");
        // Dropped on an error, the process is stopped.
        let stdin = pipes
            .0
            .unwrap_or_else(|| Err(missing()))
            .map_err(pipe_error)?;
        let stdout = pipes
            .1
            .unwrap_or_else(|| Err(missing()))
            .map_err(pipe_error)?;
        let stderr = pipes
            .2
            .unwrap_or_else(|| Err(missing()))
            .map_err(pipe_error)?;
        let tail = process.stderr.clone();
        let activity = Activity::default();
        process.drain = Some(tokio::spawn(drain_stderr(
            stderr,
            tail.clone(),
            activity.clone(),
            server.clone(),
            debug,
        )));
        let stdout = WatchedStdout {
            inner: stdout,
            line: Vec::new(),
            line_length: 0,
            tail,
            server,
            debug,
            activity,
        };
        Ok((process, stdout, stdin))
    }
}

/// A server's stdout, watched for lines that are not JSON-RPC (a server
/// that logs to stdout is a common bug): rmcp skips such lines, so each is
/// noted in the stderr tail (and so in `Details:` when the server fails) and
/// shown live under `MCP_DEBUG`. The bytes pass through unchanged.
pub struct WatchedStdout {
    inner: pipe::Receiver,
    /// The start of the current line, up to [`STDERR_LINE_BYTES`].
    line: Vec<u8>,
    /// The current line's length so far.
    line_length: usize,
    tail: StderrTail,
    server: String,
    debug: bool,
    activity: Activity,
}

impl WatchedStdout {
    /// A watched stdout over `inner`, for tests of what reads it.
    #[cfg(test)]
    pub fn for_test(inner: pipe::Receiver) -> Self {
        WatchedStdout {
            inner,
            line: Vec::new(),
            line_length: 0,
            tail: StderrTail::default(),
            server: "test".to_owned(),
            debug: false,
            activity: Activity::default(),
        }
    }

    /// What the server has written so far, shared.
    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }

    fn note(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim();
        if !text.is_empty() && !text.starts_with('{') && !text.starts_with('[') {
            let note = format!("(stdout, not JSON-RPC) {text}");
            if self.debug {
                crate::printer::to_stderr(&format!(
                    "[{}] {}\n",
                    self.server,
                    crate::printer::one_line(&note)
                ));
            }
            self.tail.push(note);
            self.activity.lock().garbage = true;
        }
        self.line.clear();
    }
}

/// What a server wrote that bears on how it failed: lines on stdout that are
/// not JSON-RPC, a message past [`MAX_MESSAGE_BYTES`], and when it last wrote
/// anything, to stdout or stderr.
#[derive(Debug, Clone)]
pub struct Activity(Arc<Mutex<Seen>>);

#[derive(Debug)]
struct Seen {
    garbage: bool,
    too_large: bool,
    last: tokio::time::Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Activity(Arc::new(Mutex::new(Seen {
            garbage: false,
            too_large: false,
            last: tokio::time::Instant::now(),
        })))
    }
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().expect("activity lock")
    }

    fn touch(&self) {
        self.lock().last = tokio::time::Instant::now();
    }

    /// Whether the server wrote a line that is not JSON-RPC.
    pub fn wrote_garbage(&self) -> bool {
        self.lock().garbage
    }

    /// Whether the server wrote a message past [`MAX_MESSAGE_BYTES`] (which
    /// ended the connection).
    pub fn wrote_too_much(&self) -> bool {
        self.lock().too_large
    }

    /// Resolves once the server has written a line that is not JSON-RPC to
    /// stdout and then nothing at all, to stdout or stderr, for `quiet`.
    pub async fn quiet_after_garbage(&self, quiet: Duration) {
        loop {
            let (garbage, last) = {
                let seen = self.lock();
                (seen.garbage, seen.last)
            };
            let silent = last.elapsed();
            if garbage && silent >= quiet {
                return;
            }
            tokio::time::sleep(quiet.saturating_sub(silent).max(Duration::from_millis(50))).await;
        }
    }
}

impl tokio::io::AsyncRead for WatchedStdout {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buffer: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(context, buffer);
        if poll.is_ready() {
            let this = &mut *self;
            if buffer.filled().len() > before {
                this.activity.touch();
            }
            for piece in buffer.filled()[before..].split_inclusive(|&byte| byte == b'\n') {
                this.line_length += piece.len();
                if this.line_length > MAX_MESSAGE_BYTES {
                    this.activity.lock().too_large = true;
                    return std::task::Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "message too large",
                    )));
                }
                let room = STDERR_LINE_BYTES.saturating_sub(this.line.len());
                this.line.extend_from_slice(&piece[..piece.len().min(room)]);
                if piece.ends_with(b"\n") {
                    this.line_length = 0;
                    this.note();
                }
            }
        }
        poll
    }
}

/// Reads a server's stderr to its end, keeping the last lines (each cut to
/// [`STDERR_LINE_BYTES`]) and streaming them under `MCP_DEBUG`. Memory stays
/// bounded even for a line that never ends.
async fn drain_stderr(
    mut pipe: pipe::Receiver,
    tail: StderrTail,
    activity: Activity,
    server: String,
    debug: bool,
) {
    // On the heap, and not zeroed: most servers write nothing to stderr,
    // and the task stays small.
    let mut chunk = Vec::with_capacity(8192);
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        line.clear();
        if debug {
            crate::printer::to_stderr(&format!("[{server}] {}\n", crate::printer::one_line(&text)));
        }
        tail.push(text);
    };
    while let Ok(read) = pipe.read_buf(&mut chunk).await {
        if read == 0 {
            break;
        }
        activity.touch();
        for piece in chunk.split_inclusive(|&byte| byte == b'\n') {
            let room = STDERR_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            if piece.ends_with(b"\n") {
                emit(&mut line);
            }
        }
        chunk.clear();
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}

impl ServerProcess {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of stderr, after giving the reader a moment to catch up
    /// with a process that just exited.
    pub async fn settle(&mut self) -> (Vec<String>, Option<String>) {
        let status = tokio::time::timeout(Duration::from_millis(300), self.wait())
            .await
            .ok()
            .flatten();
        if status.is_some()
            && let Some(drain) = self.drain.take()
        {
            let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
        }
        (self.stderr.lines(), status.map(describe_status))
    }

    /// The buffer of the last stderr lines, shared.
    pub fn stderr_tail(&self) -> StderrTail {
        self.stderr.clone()
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub async fn wait_exit(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.wait()).await;
    }

    /// Waits for the process to exit and reaps it; `None` when it was
    /// reaped elsewhere.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => return None,
            }
            self.exit_signal().await;
        }
    }

    /// Resolves when the process may have exited: its pidfd turns readable
    /// (Linux), or after a short sleep elsewhere.
    async fn exit_signal(&mut self) {
        #[cfg(target_os = "linux")]
        {
            if self.exit_fd.is_none() {
                self.exit_fd = pidfd(self.child.id());
            }
            if let Some(fd) = &self.exit_fd
                && let Ok(mut ready) = fd.readable().await
            {
                ready.clear_ready();
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    /// Stops the server in the MCP order, its stdin closed already: time
    /// to exit by itself (see [`Stop`]; a signal to mcp-cli cuts it to
    /// [`SIGNALLED_GRACE`]), then SIGTERM to its group, then SIGKILL to the
    /// group if it is still there after [`SHUTDOWN_GRACE`]. Each wait
    /// shrinks to what is left of the command's deadline when it starts.
    /// What its group left behind is killed either way.
    pub async fn shutdown(mut self, stop: Stop) {
        let eof = stop.bound(stop.eof).max(stop.at_least);
        let signalled = async {
            crate::signals::signalled().await;
            tokio::time::sleep(SIGNALLED_GRACE).await;
        };
        tokio::select! {
            () = self.wait_exit(eof) => {}
            () = signalled => {}
        }
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill_group(Signal::Kill);
            return;
        }
        self.kill_group(Signal::Term);
        let _ = tokio::time::timeout(stop.bound(SHUTDOWN_GRACE), self.wait()).await;
        self.kill_group(Signal::Kill);
        // Reaped, not left a zombie for a process that lives on (SIGKILL
        // takes a moment to land).
        let _ = tokio::time::timeout(REAP_GRACE, self.wait()).await;
    }

    fn kill_group(&mut self, signal: Signal) {
        let Some(group) = self.group else {
            return;
        };
        send_to_group(group, signal);
        if signal == Signal::Kill {
            // Killed, then forgotten: a forced exit in between kills it
            // again, harmlessly, where the other order could orphan it. Out
            // of the registry before it is reaped, so that its number cannot
            // be reused meanwhile (a zombie keeps it).
            self.supervisor.unregister(group);
            self.group = None;
            let _ = self.child.kill();
            let _ = self.child.try_wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group(Signal::Kill);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Term,
    Kill,
}

fn send_to_group(group: i32, signal: Signal) {
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: `killpg` has no memory-safety preconditions; a group that is
    // already gone yields ESRCH, which is fine.
    unsafe {
        libc::killpg(group, signal);
    }
}

/// A descriptor that turns readable when process `pid` exits.
#[cfg(target_os = "linux")]
fn pidfd(pid: u32) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (close-on-exec) or -1; nothing else is touched.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: the `OwnedFd` keeps the descriptor open, unchanged, for as
    // long as the `AsyncFd` owns it.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .ok()
}

/// Whether process `pid`, a child of mcp-cli's, has exited (a zombie not
/// reaped yet, or reaped already), without reaping it.
pub fn has_exited(pid: u32) -> bool {
    // id_t is u32 where pids are (Linux, macOS).
    let pid: libc::id_t = pid;
    // SAFETY: waitid fills the zeroed siginfo_t; WNOWAIT leaves the
    // child to be reaped by its owner.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        if libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) != 0
        {
            return true;
        }
        #[cfg(target_os = "linux")]
        return info.si_pid() != 0;
        #[cfg(not(target_os = "linux"))]
        return info.si_pid != 0;
    }
}

/// Children of mcp-cli's that are not a server's leftovers: the daemons it
/// started (a retry may start a second), which [`stop_orphans`] leaves
/// alone.
static SPARED: [std::sync::atomic::AtomicU32; 4] =
    [const { std::sync::atomic::AtomicU32::new(0) }; 4];

/// Leaves child `pid` out of [`stop_orphans`] (the oldest is forgotten
/// past four).
pub fn spare(pid: u32) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let slot = NEXT.fetch_add(1, Ordering::SeqCst) % SPARED.len();
    SPARED[slot].store(pid, Ordering::SeqCst);
}

/// Whether child `pid` is one [`spare`] named.
#[cfg(target_os = "linux")]
fn spared(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(|pid| SPARED.iter().any(|slot| slot.load(Ordering::SeqCst) == pid))
}

/// Stops what servers left behind outside their process groups (a daemon
/// that called `setsid`): on Linux mcp-cli is their subreaper
/// ([`become_subreaper`]), so once their server has exited they are its
/// children. Each gets SIGTERM (its group too), then SIGKILL after `grace`,
/// and is reaped. Children that are `keep`'s live servers are left alone
/// (the daemon's, still running). Costs one `waitpid` when there are none
/// (a read of `/proc` with `keep`).
pub fn stop_orphans(grace: Duration, keep: Option<&Supervisor>) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: WNOHANG with a null status only reaps exited children;
        // ECHILD (-1) says there are none at all. Not with `keep`: it
        // would reap a live server's exit, which its owner reads.
        if keep.is_none() && unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } < 0 {
            return;
        }
        // A killed orphan's own children become ours in turn: a few rounds.
        for _ in 0..3 {
            let orphans: Vec<i32> = children()
                .into_iter()
                .filter(|&pid| !spared(pid))
                .filter(|pid| {
                    keep.is_none_or(|keep| !keep.live_groups().any(|group| group == *pid))
                })
                .collect();
            if orphans.is_empty() {
                return;
            }
            for &pid in &orphans {
                signal_orphan(pid, libc::SIGTERM);
            }
            let deadline = std::time::Instant::now() + grace;
            let alive = |pid: i32| {
                // SAFETY: reaps `pid` if it has exited; 0 means it runs still.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) == 0 }
            };
            while std::time::Instant::now() < deadline && orphans.iter().any(|&pid| alive(pid)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            for &pid in orphans.iter().filter(|&&pid| alive(pid)) {
                signal_orphan(pid, libc::SIGKILL);
                // SAFETY: a SIGKILLed child of ours exits at once.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (grace, keep);
}

/// Makes mcp-cli the subreaper of its servers' descendants (Linux): one
/// that leaves its server's process group and outlives its server becomes
/// mcp-cli's child instead of init's, so [`stop_orphans`] can stop it.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: sets a flag of this process; no memory is touched.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
    }
}

#[cfg(target_os = "linux")]
fn signal_orphan(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a process (or
    // group) that is gone yields ESRCH.
    unsafe {
        libc::kill(-pid, signal);
        libc::kill(pid, signal);
    }
}

/// This process's children, from `/proc` (Linux).
#[cfg(target_os = "linux")]
fn children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid ...`; comm may hold spaces and `)`.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1).map(|ppid| ppid == me)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn group_alive(group: i32) -> bool {
    reap(group);
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(group, 0) == 0 }
}

/// Reaps exited children of the group, so zombies do not count as alive.
fn reap(group: i32) {
    // SAFETY: `waitpid` with WNOHANG and a null status pointer only reaps.
    unsafe { while libc::waitpid(-group, std::ptr::null_mut(), libc::WNOHANG) > 0 {} }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return format!("killed by signal {signal}");
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "exited".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_keeps_the_first_lines_and_the_last() {
        let kept = StderrTail::default();
        for line in 0..30 {
            kept.push(line.to_string());
        }
        let mut expected: Vec<String> = (0..5).map(|line| line.to_string()).collect();
        expected.push("... (10 lines left out)".to_owned());
        expected.extend((15..30).map(|line| line.to_string()));
        assert_eq!(kept.lines(), expected);

        let few = StderrTail::default();
        for line in 0..7 {
            few.push(line.to_string());
        }
        assert_eq!(
            few.lines(),
            (0..7).map(|l| l.to_string()).collect::<Vec<_>>()
        );
    }

    /// A server that ignores SIGTERM is killed, and reaped: no zombie is
    /// left for a process that lives on (the daemon, later).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_killed_server_is_reaped() {
        let args = ["-c".to_owned(), "trap '' TERM; sleep 30".to_owned()];
        let started = start(&Launch {
            server: "stubborn",
            command: "sh",
            args: &args,
            env: &[],
            cwd: None,
            base_env: None,
            dir: None,
            debug: false,
            supervisor: Supervisor::new(),
        })
        .unwrap();
        let (process, _stdout, _stdin) = started.attach().unwrap();
        let pid = process.id();
        // Its trap is set before it is stopped.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stop = Stop {
            eof: Duration::from_millis(100),
            at_least: Duration::ZERO,
            deadline: Some(tokio::time::Instant::now()),
        };
        process.shutdown(stop).await;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        assert!(stat.is_err(), "left as {stat:?}");
    }
}
