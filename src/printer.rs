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

/// The progress or status line on the terminal, if one is shown. One for
/// the process: every stderr write clears it first.
static LINE: Mutex<Line> = Mutex::new(Line {
    shown: false,
    progress: None,
});

struct Line {
    /// Whether a line is on screen now.
    shown: bool,
    /// The last tool progress line, and when it came.
    progress: Option<(String, Instant)>,
}

/// Writes to stderr, ignoring failure: a closed stderr must not turn into a
/// panic (exit 101) or hide the real exit code. A progress line on screen is
/// cleared first (and redrawn by the next tick).
pub fn to_stderr(text: &str) {
    let mut line = LINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let clear = if std::mem::take(&mut line.shown) {
        "\r\x1b[2K"
    } else {
        ""
    };
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{clear}{text}").as_bytes());
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
    progress: bool,
}

impl Printer {
    /// A printer for `--json` or human output.
    pub fn new(json: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        Printer {
            json,
            color: stderr_tty && env_vars::get(env_vars::NO_COLOR).is_none(),
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
        // One write for a small result, 64 KiB at a time for a large one;
        // no larger buffer than the result needs (an untouched page costs
        // nothing, but the heap grows past its first 128 KiB for it).
        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        let mut stdout =
            std::io::BufWriter::with_capacity(total.clamp(1, 64 * 1024), std::io::stdout().lock());
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
    pub fn progress(&self, text: &str) {
        if self.progress {
            let mut line = LINE.lock().expect("progress lock");
            line.progress = Some((text.to_owned(), Instant::now()));
            draw(&mut line, text);
        }
    }

    /// Shows what a command has waited for, and how long: the last progress
    /// line with the time added when there is one (it says more), else
    /// `text`. Not within a second of a progress line, which is fresh enough.
    pub fn status(&self, text: &str, waited: Duration) {
        if !self.progress {
            return;
        }
        let mut line = LINE.lock().expect("progress lock");
        let text = match &line.progress {
            Some((_, at)) if at.elapsed() < Duration::from_secs(1) => return,
            Some((progress, _)) => progress.clone(),
            None => text.to_owned(),
        };
        draw(&mut line, &format!("{text} ({} s)", waited.as_secs()));
    }

    /// Removes the progress line, if one is shown.
    pub fn clear_progress(&self) {
        to_stderr("");
    }
}

/// Draws `text` as the progress line, cut to the terminal's usual width.
fn draw(line: &mut Line, text: &str) {
    let text: String = text.chars().take(100).collect();
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("\r\x1b[2K{text}").as_bytes());
    line.shown = true;
}
