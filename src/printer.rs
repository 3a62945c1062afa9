//! Output: data to stdout, everything else to stderr.
//!
//! stdout carries only results, written in one go and flushed; a reader that
//! went away (`| head -1`) ends the command quietly. Warnings, errors,
//! progress and debug lines go to stderr, coloured only on a terminal
//! without `NO_COLOR`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::env_vars;
use crate::error::McpError;

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns debug lines on (`MCP_DEBUG`).
pub fn set_debug(enabled: bool) {
    DEBUG.store(enabled, Ordering::Relaxed);
}

/// Whether debug lines are on.
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Writes to stderr, ignoring failure: a closed stderr must not turn into a
/// panic (exit 101) or hide the real exit code.
pub fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints a debug line on stderr under `MCP_DEBUG`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::printer::debug_enabled() {
            $crate::printer::to_stderr(&format!("[mcp-cli] {}\n", format!($($arg)*)));
        }
    };
}

/// Where output goes, and in which form.
#[derive(Debug)]
pub struct Printer {
    json: bool,
    color: bool,
    /// Whether a progress line is on screen, and when one was last drawn.
    progress_shown: Mutex<(bool, Option<Instant>)>,
    progress: bool,
}

impl Printer {
    /// A printer for `--json` or human output.
    pub fn new(json: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        Printer {
            json,
            color: stderr_tty && env_vars::get(env_vars::NO_COLOR).is_none(),
            progress_shown: Mutex::new((false, None)),
            progress: stderr_tty,
        }
    }

    /// Whether output is JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Writes data to stdout and flushes it.
    pub fn out(&self, text: &str) -> Result<(), McpError> {
        self.clear_progress();
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(McpError::Output)
    }

    /// Writes pieces of data to stdout, in order, and flushes them.
    pub fn out_pieces(&self, pieces: &[std::borrow::Cow<'_, str>]) -> Result<(), McpError> {
        self.clear_progress();
        let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        pieces
            .iter()
            .try_for_each(|piece| stdout.write_all(piece.as_bytes()))
            .and_then(|()| stdout.flush())
            .map_err(McpError::Output)
    }

    /// Writes one JSON value to stdout, pretty, with a final newline.
    pub fn out_json(&self, value: &serde_json::Value) -> Result<(), McpError> {
        let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
        text.push('\n');
        self.out(&text)
    }

    /// A warning on stderr (not under `--json`, where stderr is for errors).
    pub fn warn(&self, message: &str) {
        self.clear_progress();
        if self.json {
            return;
        }
        if self.color {
            to_stderr(&format!("\x1b[33mwarning\x1b[0m: {message}\n"));
        } else {
            to_stderr(&format!("warning: {message}\n"));
        }
    }

    /// An error on stderr, in the human or the JSON form.
    pub fn error(&self, error: &McpError) {
        self.clear_progress();
        if self.json {
            to_stderr(&format!("{}\n", error.to_json()));
            return;
        }
        let text = error.render();
        if self.color {
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            to_stderr(&format!("\x1b[1;31m{first}\x1b[0m\n{rest}"));
        } else {
            to_stderr(&text);
        }
    }

    /// Whether progress lines are shown (stderr is a terminal).
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// Shows a progress line on stderr, when stderr is a terminal.
    pub fn progress(&self, line: &str) {
        self.draw(line, true);
    }

    /// Shows what a command waits for, unless a progress line came in the
    /// last second (that one says more).
    pub fn status(&self, line: &str) {
        self.draw(line, false);
    }

    fn draw(&self, line: &str, is_progress: bool) {
        if !self.progress {
            return;
        }
        let mut shown = self.progress_shown.lock().expect("progress lock");
        let now = Instant::now();
        if !is_progress
            && shown
                .1
                .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        let width = 100;
        let line: String = line.chars().take(width).collect();
        to_stderr(&format!("\r\x1b[2K{line}"));
        shown.0 = true;
        if is_progress {
            shown.1 = Some(now);
        }
    }

    /// Removes the progress line, if one is shown.
    pub fn clear_progress(&self) {
        let mut shown = self.progress_shown.lock().expect("progress lock");
        if shown.0 {
            to_stderr("\r\x1b[2K");
            shown.0 = false;
        }
    }
}
