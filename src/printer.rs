//! Output: data to stdout, everything else to stderr; and the one
//! sanitiser for text a server sent.
//!
//! stdout carries only results, written in one go and flushed; a reader that
//! went away (`| head -1`) ends the command quietly. Warnings, errors,
//! progress and debug lines go to stderr, coloured only on a terminal
//! without `NO_COLOR`.
//!
//! Terminal safety: a server is untrusted, and so is every byte it sends.
//! Text it controls (names, descriptions, instructions, messages, stderr
//! lines, progress) goes through [`one_line`] or [`lines`] before it is
//! shown, so that no escape sequence reaches a terminal (no hidden text, no
//! clipboard or title writes, no overwritten lines) and a name can never
//! forge a line of a listing. Control characters, DEL, C1 controls and
//! bidirectional overrides are shown escaped (`\e[8m`, `\r`, `\u{202e}`).
//! JSON output escapes the ones serde_json leaves raw ([`json_text`]). A
//! tool's result is data: written as it is unless stdout is a terminal
//! (then sanitised, unless `--raw`).

use std::borrow::Cow;
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

/// Prints a debug line on stderr under `MCP_DEBUG`, sanitised: it may
/// quote what a server wrote.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::printer::debug_enabled() {
            $crate::printer::to_stderr(&format!(
                "[mcp-cli] {}\n",
                $crate::printer::one_line(&format!($($arg)*))
            ));
        }
    };
}

/// Whether `c` is shown escaped: a C0 control, DEL, a C1 control, a
/// bidirectional mark, embedding, override or isolate (which reorder what a
/// terminal shows, "Trojan Source"), a zero-width or invisible character,
/// a line or paragraph separator, or a tag character (invisible text an
/// agent reads and a person does not, "ASCII smuggling").
fn unsafe_char(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// `text` safe to show on one line: every control character escaped,
/// newlines, carriage returns and tabs included.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `text` safe to show as lines: control characters escaped, but newlines
/// and tabs kept.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_lines && matches!(c, '\n' | '\t');
    if !text.chars().any(|c| unsafe_char(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if kept(c) || !unsafe_char(c) => out.push(c),
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// A tool's name as listings show it: as it is when it keeps to the MCP
/// spec's characters (`A-Z a-z 0-9 _ - . /`), else escaped and quoted for
/// a shell, so that one line stays one tool.
pub fn tool_name(name: &str) -> Cow<'_, str> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(crate::cli::quote(&one_line(name)))
    }
}

/// JSON text with the characters serde_json leaves raw but a terminal
/// obeys (DEL, C1 controls, bidirectional overrides) written as `\uXXXX`
/// escapes. They can only occur inside strings, where the escape means the
/// same character: the JSON is unchanged.
pub fn json_text(text: String) -> String {
    // Each starts with one of these bytes in UTF-8.
    if !text
        .bytes()
        .any(|b| matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe1 | 0xe2 | 0xef | 0xf3))
    {
        return text;
    }
    // C0 controls are escaped by serde_json already; outside strings, only
    // its own newlines are.
    let raw_unsafe = |c: char| c >= '\x7f' && unsafe_char(c);
    if !text.chars().any(raw_unsafe) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw_unsafe(c) {
            // As UTF-16 units: a character past U+FFFF is a surrogate pair.
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Where output goes, and in which form.
#[derive(Debug)]
pub struct Printer {
    json: bool,
    color: bool,
    progress: bool,
    /// stdout is a terminal: a tool's result text is sanitised.
    stdout_tty: bool,
    /// `--raw`: a tool's result text is written as it is, even then.
    raw: bool,
}

impl Printer {
    /// A printer for `--json` or human output.
    pub fn new(json: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        Printer {
            json,
            color: stderr_tty && env_vars::get(env_vars::NO_COLOR).is_none(),
            progress: stderr_tty,
            stdout_tty: std::io::stdout().is_terminal(),
            raw: false,
        }
    }

    /// With `--raw`: a tool's result text is written as it is on a terminal too.
    pub fn with_raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// A tool's result text as it goes to stdout: as it is, unless stdout
    /// is a terminal and `--raw` was not given.
    pub fn result_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.stdout_tty && !self.raw {
            lines(text)
        } else {
            Cow::Borrowed(text)
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
        let mut text = json_text(serde_json::to_string_pretty(value).unwrap_or_default());
        text.push('\n');
        self.out(&text)
    }

    /// A warning on stderr; under `--json`, one object `{"warning": ...}`
    /// per line (a replaced server must not go unsaid).
    pub fn warn(&self, message: &str) {
        self.clear_progress();
        if self.json {
            let warning = serde_json::json!({ "warning": message }).to_string();
            to_stderr(&format!("{}\n", json_text(warning)));
            return;
        }
        let message = lines(message);
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
            to_stderr(&format!("{}\n", json_text(error.to_json().to_string())));
            return;
        }
        let rendered = error.render();
        let text = lines(&rendered);
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
            let text = one_line(text);
            let mut line = LINE.lock().expect("progress lock");
            line.progress = Some((text.to_string(), Instant::now()));
            draw(&mut line, &text);
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
            None => one_line(text).into_owned(),
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
