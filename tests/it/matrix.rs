//! The broken-server matrix: one row per way a server, a config or an
//! argument can be broken, each run once against the bundled test server's
//! switches, with its exit code, message, wall time, peak memory and what
//! is left behind checked.
//!
//! The rows print as a table (`cargo test matrix -- --nocapture`). With
//! `MCP_CLI_IT_BIN` naming another build of mcp-cli the same rows run
//! against it, and `MCP_CLI_MATRIX_REPORT=1` prints them without asserting:
//! the figures before and after a change.

use std::io::Read;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Sandbox, pids_matching, test_server, wait_for};

/// One row: what runs, and what it must give.
struct Row {
    name: &'static str,
    /// The config (`Null`: none is written); may set up files.
    config: fn(&Sandbox) -> Value,
    /// The command line; `{dir}` stands for the sandbox.
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// `Error [TYPE]` on stderr, or text on stdout.
    expect: &'static str,
    /// A hang guard, generous: order and cause are the other tests' business.
    within: Duration,
    /// Peak resident memory of mcp-cli and what it waited for, in MiB.
    memory_mib: u64,
}

/// The bound the README states for one message: 4 × its size + 64 MiB.
const fn bound_mib(megabytes: u64) -> u64 {
    ((4 * megabytes * 1_000_000) >> 20) + 64
}

fn one(sandbox: &Sandbox, switches: &[&str]) -> Value {
    json!({"mcpServers": {"s": sandbox.server(switches)}})
}

const SECONDS: Duration = Duration::from_secs(20);

/// Past this a run is killed (a build that waits for what cannot come).
const GUARD: Duration = Duration::from_secs(60);
const ECHO: &[&str] = &["call", "s", "echo", r#"{"text": "x"}"#];

fn rows() -> Vec<Row> {
    let answer = |name, kind: &'static str, code, expect| Row {
        name,
        config: match kind {
            "nan" => |s| one(s, &["--bad-answer", "nan"]),
            "bigexp" => |s| one(s, &["--bad-answer", "bigexp"]),
            "surrogate" => |s| one(s, &["--bad-answer", "surrogate"]),
            "deep" => |s| one(s, &["--bad-answer", "deep"]),
            "badutf8" => |s| one(s, &["--bad-answer", "badutf8"]),
            "batch" => |s| one(s, &["--bad-answer", "batch"]),
            "pretty" => |s| one(s, &["--bad-answer", "pretty"]),
            "nomessage" => |s| one(s, &["--bad-answer", "nomessage"]),
            "nullid" => |s| one(s, &["--bad-answer", "nullid"]),
            "densenote" => |s| one(s, &["--bad-answer", "densenote"]),
            "densenoteid" => |s| one(s, &["--bad-answer", "densenoteid"]),
            "denseid" => |s| one(s, &["--bad-answer", "denseid"]),
            "densebatch" => |s| one(s, &["--bad-answer", "densebatch"]),
            "surdense" => |s| one(s, &["--bad-answer", "surdense"]),
            "odddense" => |s| one(s, &["--bad-answer", "odddense"]),
            _ => unreachable!(),
        },
        args: ECHO,
        env: &[],
        code,
        expect,
        within: SECONDS,
        memory_mib: 32,
    };
    let shaped = |name, args| Row {
        name,
        config: |s| one(s, &[]),
        args,
        env: &[],
        code: 0,
        expect: "",
        within: Duration::from_secs(60),
        memory_mib: bound_mib(20),
    };
    vec![
        answer("answer: NaN", "nan", 2, "PROTOCOL_ERROR"),
        answer("answer: 1e999", "bigexp", 0, "ok"),
        answer(
            "answer: lone UTF-16 surrogate",
            "surrogate",
            0,
            "cut \u{fffd}",
        ),
        answer("answer: nested past 128", "deep", 0, "ok"),
        answer("answer: invalid UTF-8 byte", "badutf8", 2, "PROTOCOL_ERROR"),
        answer("answer: a batch array", "batch", 0, "ok"),
        answer("answer: pretty-printed", "pretty", 2, "PROTOCOL_ERROR"),
        answer(
            "error without message",
            "nomessage",
            2,
            "TOOL_EXECUTION_FAILED",
        ),
        answer("error with id null", "nullid", 2, "TOOL_EXECUTION_FAILED"),
        answer(
            "a notification too dense to read, then the answer",
            "densenote",
            0,
            "x",
        ),
        answer(
            "the same, the call's id inside its data",
            "densenoteid",
            0,
            "x",
        ),
        answer("an answer whose id is a million numbers", "denseid", 0, "x"),
        answer(
            "a batch opening with a dense notification",
            "densebatch",
            0,
            "x",
        ),
        answer(
            "a lone surrogate beside a dense structuredContent",
            "surdense",
            0,
            "x\u{fffd}",
        ),
        answer(
            "an unknown block beside a dense structuredContent",
            "odddense",
            0,
            "x\n[content of type `hologram`",
        ),
        Row {
            name: "the same, --json",
            config: |s| one(s, &["--bad-answer", "odddense"]),
            args: &["--json", "call", "s", "echo", r#"{"text": "x"}"#],
            env: &[],
            code: 0,
            expect: "\"type\": \"hologram\"",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "answer to a request never sent",
            config: |s| one(s, &["--forge-response"]),
            args: &["call", "s", "echo", r#"{"text": "real"}"#],
            env: &[],
            code: 0,
            expect: "real",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "dies mid-call, a child holds stdout",
            config: |s| one(s, &["--exit-leaving-stdout"]),
            args: &["call", "s", "write", "{}"],
            env: &[],
            code: 3,
            expect: "CONNECTION_CLOSED",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "crashes mid-call",
            config: |s| one(s, &["--crash-on-call"]),
            args: &["call", "s", "write", "{}"],
            env: &[],
            code: 3,
            expect: "CONNECTION_CLOSED",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "content block of an unknown type",
            config: |s| one(s, &["--odd-results"]),
            args: ECHO,
            env: &[],
            code: 0,
            expect: "content of type `hologram`",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "isError: \"yes\"",
            config: |s| one(s, &["--odd-results"]),
            args: &["call", "s", "fail", "{}"],
            env: &[],
            code: 2,
            expect: "PROTOCOL_ERROR",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "a tool without inputSchema",
            config: |s| one(s, &["--odd-tools"]),
            args: &["grep", "*"],
            env: &[],
            code: 0,
            expect: "s/noschema",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "protocolVersion not supported",
            config: |s| one(s, &["--protocol-version", "2099-01-01"]),
            args: ECHO,
            env: &[("MCP_MAX_RETRIES", "0")],
            code: 2,
            expect: "PROTOCOL_ERROR",
            within: SECONDS,
            memory_mib: 32,
        },
        shaped(
            "5 MB text result",
            &["call", "s", "huge", r#"{"bytes": 5000000}"#],
        ),
        shaped(
            "20 MB text result",
            &["call", "s", "huge", r#"{"bytes": 20000000}"#],
        ),
        shaped(
            "20 MB dense array",
            &[
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "dense"}"#,
            ],
        ),
        shaped(
            "20 MB nested 100 deep",
            &[
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "deep"}"#,
            ],
        ),
        shaped(
            "20 MB of small objects",
            &[
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "objects"}"#,
            ],
        ),
        shaped(
            "20 MB text, a lone surrogate at its end",
            &[
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "surrogate"}"#,
            ],
        ),
        shaped(
            "20 MB text in a batch",
            &[
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "batch"}"#,
            ],
        ),
        shaped(
            "20 MB text, --json",
            &["--json", "call", "s", "huge", r#"{"bytes": 20000000}"#],
        ),
        shaped(
            "20 MB dense array, --json",
            &[
                "--json",
                "call",
                "s",
                "huge",
                r#"{"bytes": 20000000, "shape": "dense"}"#,
            ],
        ),
        Row {
            name: "integers past 64 bits",
            config: |s| one(s, &[]),
            args: &[
                "--json",
                "call",
                "s",
                "huge",
                r#"{"bytes": 1, "shape": "bigint"}"#,
            ],
            env: &[],
            code: 0,
            expect: "\"big\": 123456789012345678901234567890",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "a line that never ends",
            config: |s| one(s, &["--endless-line-on-call"]),
            args: &["call", "s", "idem", "{}"],
            env: &[],
            code: 2,
            expect: "MESSAGE_TOO_LARGE",
            within: Duration::from_secs(60),
            // The line read up to MAX_MESSAGE_BYTES (256 MiB), and no more.
            memory_mib: 300,
        },
        Row {
            name: "empty pages with new cursors",
            config: |s| one(s, &["--empty-pages"]),
            args: &[],
            env: &[],
            code: 0,
            expect: "s\n",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "cursors without end",
            config: |s| one(s, &["--endless-pages"]),
            args: &["info", "s"],
            env: &[],
            code: 2,
            expect: "PROTOCOL_ERROR",
            within: SECONDS,
            memory_mib: 64,
        },
        Row {
            name: "hung servers before a healthy one",
            config: |s| {
                json!({"mcpServers": {
                    "hung1": s.server(&["--hang"]),
                    "hung2": s.server(&["--hang"]),
                    "hung3": s.server(&["--hang-on-list"]),
                    "healthy": s.server(&[]),
                }})
            },
            args: &[],
            env: &[
                ("MCP_CONCURRENCY", "2"),
                ("MCP_LIST_TIMEOUT", "1"),
                ("MCP_MAX_RETRIES", "0"),
            ],
            code: 3,
            expect: "\nhealthy\n",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "hangs on a call (MCP_TIMEOUT=1)",
            config: |s| one(s, &["--hang-on-call"]),
            args: ECHO,
            env: &[("MCP_TIMEOUT", "1")],
            code: 3,
            expect: "OPERATION_CANCELLED",
            within: Duration::from_millis(2100),
            memory_mib: 32,
        },
        Row {
            name: "ignores SIGTERM and EOF (MCP_TIMEOUT=1)",
            config: |s| {
                json!({"mcpServers": {"s": {
                    "command": "sh",
                    "args": ["-c", "trap '' TERM; exec \"$0\" --state \"$1\" --hang-on-call --ignore-stdin-eof",
                        test_server(), s.state()],
                }}})
            },
            args: ECHO,
            env: &[("MCP_TIMEOUT", "1")],
            code: 3,
            expect: "OPERATION_CANCELLED",
            within: Duration::from_millis(2100),
            memory_mib: 32,
        },
        Row {
            name: "never initializes (MCP_TIMEOUT=1)",
            config: |s| one(s, &["--hang"]),
            args: ECHO,
            env: &[("MCP_TIMEOUT", "1")],
            code: 3,
            expect: "OPERATION_CANCELLED",
            within: Duration::from_millis(2100),
            memory_mib: 32,
        },
        Row {
            name: "config: /dev/zero",
            config: |_| Value::Null,
            args: &["-c", "/dev/zero"],
            env: &[],
            code: 1,
            expect: "CONFIG_READ_FAILED",
            within: SECONDS,
            memory_mib: 64,
        },
        Row {
            name: "config: a FIFO nobody writes",
            config: |s| {
                let fifo = s.path().join("fifo.json");
                crate::support::mkfifo(&fifo);
                Value::Null
            },
            args: &["-c", "{dir}/fifo.json"],
            env: &[("MCP_TIMEOUT", "1")],
            code: 1,
            expect: "CONFIG_READ_FAILED",
            within: Duration::from_secs(3),
            memory_mib: 32,
        },
        Row {
            name: "config: \"disabled\": \"true\"",
            config: |s| {
                let mut server = s.server(&[]);
                server["disabled"] = json!("true");
                json!({"mcpServers": {"s": server}})
            },
            args: ECHO,
            env: &[],
            code: 1,
            expect: "CONFIG_INVALID",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "config: env key with =",
            config: |s| {
                let mut server = s.server(&[]);
                server["env"] = json!({"A=B": "c"});
                json!({"mcpServers": {"s": server}})
            },
            args: ECHO,
            env: &[],
            code: 1,
            expect: "CONFIG_INVALID",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "config: empty server name",
            config: |s| json!({"mcpServers": {"": s.server(&[])}}),
            args: &[],
            env: &[],
            code: 1,
            expect: "CONFIG_INVALID",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "config: ${A:-${B:-default}}",
            config: |s| {
                let mut server = s.server(&[]);
                server["command"] = json!(format!(
                    "${{MCP_CLI_IT_UNSET_A:-${{MCP_CLI_IT_UNSET_B:-{}}}}}",
                    test_server().display()
                ));
                json!({"mcpServers": {"s": server}})
            },
            args: ECHO,
            env: &[],
            code: 0,
            expect: "x",
            within: SECONDS,
            memory_mib: 32,
        },
        Row {
            name: "argument: '' (an unset variable)",
            config: |s| one(s, &[]),
            args: &["call", "s", "echo", ""],
            env: &[],
            code: 1,
            expect: "INVALID_JSON_ARGUMENTS",
            within: SECONDS,
            memory_mib: 32,
        },
    ]
}

/// What one row gave.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Peak RSS of mcp-cli and the processes it waited for, in KiB.
    peak_kib: u64,
    left: usize,
}

fn run(row: &Row) -> Outcome {
    let mut sandbox = Sandbox::new();
    let config = (row.config)(&sandbox);
    if !config.is_null() {
        sandbox.write_config(&config);
    }
    // A bound for a build that would wait for the 30-minute default.
    sandbox.env("MCP_TIMEOUT", "20");
    for (key, value) in row.env {
        sandbox.env(key, value);
    }
    let dir = sandbox.path().display().to_string();
    let args: Vec<String> = row.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    // Waited for with wait4, for its resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = sandbox
        .command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Only the start and the end of a large output are kept.
    let out = std::thread::spawn(move || {
        let (mut kept, mut chunk) = (Vec::new(), vec![0; 64 * 1024]);
        while let Ok(read) = stdout.read(&mut chunk) {
            if read == 0 {
                break;
            }
            if kept.len() < 4096 {
                kept.extend_from_slice(&chunk[..read]);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    // A child spawned with vfork (posix_spawn) starts with this process's
    // high-water RSS as its own `ru_maxrss`, and this process runs the
    // other tests in parallel: past that mark, `ru_maxrss` is the child's;
    // under it, the child's own high-water mark, read while it runs, is.
    let inherited = high_water_kib("self");
    let mut polled: Option<u64> = None;
    let (status, usage) = loop {
        if let Some(kib) = high_water_kib(&pid.to_string()) {
            polled = Some(polled.map_or(kib, |seen| seen.max(kib)));
        }
        let mut status = 0;
        // SAFETY: plain values for the call to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: the child is ours and not waited for by anything else.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break (status, usage);
        }
        // Past the guard it is killed, and the row fails on its time.
        if started.elapsed() > GUARD {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // The daemon's servers are stopped with it.
    if sandbox.through_daemon() {
        sandbox.stop_daemon();
    }
    let left = if wait_for(Duration::from_secs(3), || pids_matching(&dir).is_empty()) {
        0
    } else {
        pids_matching(&dir).len()
    };
    Outcome {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed,
        peak_kib: {
            let maxrss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
            match (inherited, polled) {
                (Some(inherited), Some(polled)) if maxrss <= inherited => polled,
                _ => maxrss,
            }
        },
        left,
    }
}

/// `VmHWM` of `/proc/<pid>/status`, in KiB: the peak RSS of the process's
/// current image.
fn high_water_kib(pid: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn broken_servers_and_inputs() {
    let rows = rows();
    let next = Mutex::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..rows.len()).map(|_| None).collect());
    // A few at a time: the rows are independent, and each is timed alone
    // only by a generous guard.
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap();
                        *next += 1;
                        *next - 1
                    };
                    let Some(row) = rows.get(index) else { break };
                    let outcome = run(row);
                    outcomes.lock().unwrap()[index] = Some(outcome);
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let mut failures = Vec::new();
    println!(
        "\n| case | exit | outcome | wall time | peak RSS | left |\n|---|---|---|---|---|---|"
    );
    for (row, outcome) in rows.iter().zip(&outcomes) {
        let kind = outcome
            .stderr
            .split("Error [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or(if outcome.code == 0 { "ok" } else { "?" });
        println!(
            "| {} | {} | {} | {:.2} s | {:.0} MiB | {} |",
            row.name,
            outcome.code,
            kind,
            outcome.elapsed.as_secs_f64(),
            outcome.peak_kib as f64 / 1024.0,
            outcome.left
        );
        let mut wrong = Vec::new();
        if outcome.code != row.code {
            wrong.push(format!("exit {} (expected {})", outcome.code, row.code));
        }
        let found = outcome.stdout.contains(row.expect)
            || outcome.stderr.contains(&format!("Error [{}]", row.expect));
        if !found {
            wrong.push(format!("no {:?}", row.expect));
        }
        if outcome.elapsed > row.within {
            wrong.push(format!(
                "took {:?}, bound {:?}",
                outcome.elapsed, row.within
            ));
        }
        if outcome.peak_kib > row.memory_mib * 1024 {
            wrong.push(format!(
                "peak {} KiB, bound {} MiB",
                outcome.peak_kib, row.memory_mib
            ));
        }
        if outcome.left > 0 {
            wrong.push(format!("{} processes left", outcome.left));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\nstdout: {}\nstderr: {}",
                row.name,
                wrong.join(", "),
                outcome.stdout.chars().take(300).collect::<String>(),
                outcome.stderr
            ));
        }
    }
    if std::env::var_os("MCP_CLI_MATRIX_REPORT").is_none() {
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
