//! Test harness: a temp dir per test, the real binary, real servers.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The longest any one mcp-cli run may take in a test before it is killed
/// and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The mcp-cli binary under test.
pub fn mcp_cli() -> PathBuf {
    // Another build, to compare (see matrix.rs).
    std::env::var_os("MCP_CLI_IT_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_mcp-cli")),
        PathBuf::from,
    )
}

/// The bundled fault server, built beside mcp-cli (`cargo build --workspace`).
pub fn test_server() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_mcp-cli")).with_file_name("mcp-test-server");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --workspace` (scripts/test does)",
        path.display()
    );
    path
}

/// A real server installed by `tests/servers/install.sh`; a missing one fails the test.
pub fn real_server(relative: &str) -> String {
    let path = repo().join("tests/servers").join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `tests/servers/install.sh` (scripts/test does)",
        path.display()
    );
    path.display().to_string()
}

/// The config entries of the three real servers; `root` is the filesystem
/// server's allowed directory.
pub fn real_servers(root: &Path) -> Value {
    json!({
        "everything": {"command": real_server("node_modules/.bin/mcp-server-everything"), "args": ["stdio"]},
        "filesystem": {"command": real_server("node_modules/.bin/mcp-server-filesystem"), "args": [root]},
        "time": {"command": real_server(".venv/bin/mcp-server-time")},
    })
}

/// Asserts that `text` contains `needle`, showing `text` when it does not.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// The result of one run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Asserts that the run took a time within `range`, and returns self.
    pub fn expect_elapsed(
        &self,
        range: impl std::ops::RangeBounds<Duration> + std::fmt::Debug,
    ) -> &Self {
        assert!(
            range.contains(&self.elapsed),
            "took {:?}, expected {range:?}",
            self.elapsed
        );
        self
    }

    /// Asserts the exit code and the error type, and returns self.
    #[track_caller]
    pub fn expect_error(&self, code: i32, kind: &str) -> &Self {
        assert_eq!(self.code, code, "exit code of {self:#?}");
        assert!(
            self.stderr.contains(&format!("Error [{kind}]")),
            "expected Error [{kind}] in {self:#?}"
        );
        self
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:#?}");
        &self.stdout
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:#?}"))
    }
}

/// One test's sandbox: a temp dir as cwd and HOME, a config, a state dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // The sandbox's own daemon, in its own runtime directory.
        let runtime = dir.path().join("run");
        std::fs::create_dir(&runtime).expect("runtime dir");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("runtime dir mode");
        let mut env: Vec<(String, String)> = vec![
            // Small pages, so every listing exercises pagination.
            ("MCP_RETRY_DELAY".into(), "50".into()),
            ("MCP_TEST_PAGE_SIZE".into(), "4".into()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
        ];
        if direct_mode() {
            env.push(("MCP_NO_DAEMON".into(), "1".into()));
        }
        Sandbox { dir, env }
    }

    /// A sandbox whose commands connect to servers directly, for tests of
    /// what a command does with the servers it starts itself (the daemon's
    /// own are tested in `daemon.rs`).
    pub fn direct() -> Self {
        let mut sandbox = Sandbox::new();
        sandbox.env("MCP_NO_DAEMON", "1");
        sandbox
    }

    /// Stops the sandbox's daemon, and so its servers, in the MCP order
    /// (nothing to do without one).
    pub fn stop_daemon(&self) -> Run {
        self.run(&["daemon", "stop"])
    }

    /// The variables that place the sandbox's daemon (or turn it off), for
    /// an mcp-cli run by a shell rather than by [`Sandbox::command`].
    pub fn daemon_env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter(|(key, _)| key == "XDG_RUNTIME_DIR" || key == "MCP_NO_DAEMON")
            .cloned()
            .collect()
    }

    /// Whether this sandbox's commands reach servers through the daemon.
    pub fn through_daemon(&self) -> bool {
        !self
            .env
            .iter()
            .any(|(key, value)| key == "MCP_NO_DAEMON" && value == "1")
    }

    /// A sandbox whose `mcp_servers.json` holds `servers`.
    pub fn with_servers(servers: Value) -> Self {
        let sandbox = Sandbox::new();
        sandbox.write_config(&json!({ "mcpServers": servers }));
        sandbox
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The state dir the test server records into.
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn write_config(&self, config: &Value) {
        self.write(
            ".mcp_servers.json",
            &serde_json::to_string_pretty(config).unwrap(),
        );
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write file");
    }

    /// Sets a variable for every run of this sandbox.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.retain(|(key, _)| key != name);
        self.env.push((name.into(), value.into()));
        self
    }

    /// A test-server entry with the given switches, recording into `state()`.
    pub fn server(&self, switches: &[&str]) -> Value {
        let mut args = vec!["--state".to_owned(), self.state().display().to_string()];
        args.extend(switches.iter().map(|s| s.to_string()));
        json!({"command": test_server(), "args": args})
    }

    /// The lines of a state file (`calls.log`, `events.log`).
    pub fn log(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.state().join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The mcp-cli command, with a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(mcp_cli());
        command.args(args).current_dir(self.path());
        for (key, _) in std::env::vars() {
            // The state directory follows HOME, which is the sandbox.
            // Proxies and CAs of the machine running the tests are not the
            // tests' (the proxy tests set their own).
            let network = key.to_ascii_uppercase().ends_with("_PROXY") || key == "SSL_CERT_FILE";
            if key.starts_with("MCP_") || key == "NO_COLOR" || key == "XDG_STATE_HOME" || network {
                command.env_remove(key);
            }
        }
        command.env("HOME", self.path());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs mcp-cli with stdin closed.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// Runs mcp-cli with stdin closed and `env` set for this run.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied()).stdin(Stdio::null());
        finish(
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// Runs mcp-cli with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: impl AsRef<[u8]>) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_ref()).unwrap();
        drop(stdin);
        finish(child)
    }
}

/// Whether the suite runs without the daemon (`MCP_CLI_TEST_MODE=direct`);
/// it runs through it otherwise, as mcp-cli does by default.
pub fn direct_mode() -> bool {
    std::env::var("MCP_CLI_TEST_MODE").is_ok_and(|mode| mode == "direct")
}

impl Drop for Sandbox {
    /// The sandbox's daemon goes with it, and its servers.
    fn drop(&mut self) {
        if self.path().join("run/mcp-cli").exists() {
            let _ = self
                .command(&["daemon", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Waits for the child, killing it (and failing) past [`RUN_LIMIT`].
pub fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("mcp-cli ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed,
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Pids of processes whose command line contains `needle`.
pub fn pids_matching(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Polls `condition` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Tool names from a server's `tools/list`, by a minimal JSON-RPC exchange of
/// the test's own, independent of mcp-cli: the reference for tool counts.
pub fn raw_tool_names(command: &str, args: &[&str]) -> Vec<String> {
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |value: Value| {
        writeln!(stdin, "{value}").unwrap();
        stdin.flush().unwrap();
    };
    let mut response = |id: i64| -> Value {
        loop {
            let line = lines.next().expect("server closed stdout").unwrap();
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw-test-client", "version": "0"}}}),
    );
    response(1);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut names = Vec::new();
    let mut cursor: Option<Value> = None;
    for id in 2.. {
        let params = match &cursor {
            Some(cursor) => json!({"cursor": cursor}),
            None => json!({}),
        };
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params}));
        let result = response(id)["result"].clone();
        for tool in result["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        match result.get("nextCursor") {
            Some(next) if !next.is_null() => cursor = Some(next.clone()),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    names
}

/// Makes a FIFO at `path` (nobody writes to it yet).
pub fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Spawns `command` (a `call demo slow`) and returns once the server has
/// started the call.
pub fn spawn_slow_call(
    sandbox: &Sandbox,
    mut command: std::process::Command,
) -> std::process::Child {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || sandbox
            .log("calls.log")
            .contains(&"slow".to_owned())),
        "the call never started"
    );
    child
}
