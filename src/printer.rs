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
//! JSON output escapes the ones JSON allows raw ([`write_json`]). A
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
    let mut out = Vec::with_capacity(text.len() + 16);
    let _ = write_escaped(text, keep_lines, &mut out);
    // Valid UTF-8: whole characters and ASCII escapes.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// Writes `text` with every unsafe character escaped (newlines and tabs
/// kept with `keep_lines`), as it goes: a large text is not copied first.
fn write_escaped(text: &str, keep_lines: bool, out: &mut impl Write) -> std::io::Result<()> {
    let kept = |c: char| keep_lines && matches!(c, '\n' | '\t');
    let mut from = 0;
    for (at, c) in text.char_indices() {
        if kept(c) || !unsafe_char(c) {
            continue;
        }
        out.write_all(&text.as_bytes()[from..at])?;
        from = at + c.len_utf8();
        match c {
            '\x1b' => out.write_all(b"\\e")?,
            '\n' => out.write_all(b"\\n")?,
            '\r' => out.write_all(b"\\r")?,
            '\t' => out.write_all(b"\\t")?,
            c if u32::from(c) < 0x80 => write!(out, "\\x{:02x}", u32::from(c))?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
    }
    out.write_all(&text.as_bytes()[from..])
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

/// Writes JSON text to `out`, laid out as serde_json's `to_string_pretty`
/// lays it out (`pretty`) or compact, with the characters JSON allows raw
/// in strings but a terminal obeys (DEL, C1 controls, bidirectional
/// overrides...) written as `\uXXXX` escapes, which mean the same
/// characters: the JSON is unchanged. `text` must be valid JSON (written
/// by serde_json, or read by it); numbers and strings are copied as they
/// are, so a number past 64 bits stays exact, and nothing is built in
/// memory: a result of any size streams. The layout adds at most twice the
/// text (and 64 KiB); past that, the rest is written compact: deep nesting
/// would otherwise grow the output with the square of its depth (a 40 KB
/// answer nested 20,000 deep, to 800 MB).
pub fn write_json(text: &str, pretty: bool, out: &mut impl Write) -> std::io::Result<()> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut pretty = pretty;
    let mut layout_left = text.len().saturating_mul(2).saturating_add(64 << 10);
    let mut newline = |out: &mut dyn Write, depth: usize, pretty: &mut bool| {
        let cost = 1 + 2 * depth;
        if !*pretty || cost > layout_left {
            *pretty = false;
            return Ok(());
        }
        layout_left -= cost;
        out.write_all(b"\n")?;
        (0..depth).try_for_each(|_| out.write_all(b"  "))
    };
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'"' => {
                let end = string_end(bytes, at);
                write_string(&text[at..end], out)?;
                at = end;
                continue;
            }
            b'{' | b'[' => {
                out.write_all(&[byte])?;
                let next = at
                    + 1
                    + bytes[at + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                if matches!(bytes.get(next), Some(b'}' | b']')) {
                    out.write_all(&bytes[next..=next])?;
                    at = next + 1;
                    continue;
                }
                depth += 1;
                newline(out, depth, &mut pretty)?;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth, &mut pretty)?;
                out.write_all(&[byte])?;
            }
            b',' => {
                out.write_all(b",")?;
                newline(out, depth, &mut pretty)?;
            }
            b':' => out.write_all(if pretty { b": " } else { b":" })?,
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => {
                // A number or a literal, whole.
                let run = bytes[at..]
                    .iter()
                    .take_while(|b| {
                        !matches!(b, b',' | b':' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')
                    })
                    .count();
                out.write_all(&bytes[at..at + run])?;
                at += run;
                continue;
            }
        }
        at += 1;
    }
    Ok(())
}

/// Where the string that opens at `start` ends (past its closing quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while let Some(found) = memchr::memchr2(b'"', b'\\', &bytes[at..]) {
        at += found;
        if bytes[at] == b'"' {
            return at + 1;
        }
        at += 2;
    }
    bytes.len()
}

/// A JSON string, quotes included, with the characters a terminal obeys
/// escaped.
fn write_string(string: &str, out: &mut impl Write) -> std::io::Result<()> {
    // Each of them starts with one of these bytes in UTF-8 (C0 controls
    // cannot be raw in a JSON string).
    let suspect = |b: &u8| matches!(b, 0x7f | 0xc2 | 0xd8 | 0xe1 | 0xe2 | 0xef | 0xf3);
    if !string.as_bytes().iter().any(suspect) {
        return out.write_all(string.as_bytes());
    }
    let mut from = 0;
    for (at, c) in string.char_indices() {
        if unsafe_char(c) {
            out.write_all(&string.as_bytes()[from..at])?;
            // As UTF-16 units: a character past U+FFFF is a surrogate pair.
            for unit in c.encode_utf16(&mut [0; 2]) {
                write!(out, "\\u{unit:04x}")?;
            }
            from = at + c.len_utf8();
        }
    }
    out.write_all(&string.as_bytes()[from..])
}

/// One JSON value as terminal-safe text, pretty or compact (see
/// [`write_json`]).
pub fn json_string(value: &serde_json::Value, pretty: bool) -> String {
    let mut out = Vec::new();
    let _ = write_json(&value.to_string(), pretty, &mut out);
    // Valid UTF-8: only whole characters and ASCII escapes were written.
    String::from_utf8(out).unwrap_or_default()
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

    /// Writes a tool's result text, in pieces, to stdout, and flushes it:
    /// as it is, unless stdout is a terminal and `--raw` was not given (then
    /// sanitised as it goes, as [`lines`] does).
    pub fn out_result(&self, pieces: &[std::borrow::Cow<'_, str>]) -> Result<(), McpError> {
        self.clear_progress();
        let sanitise = self.stdout_tty && !self.raw;
        // One write for a small result, 64 KiB at a time for a large one;
        // no larger buffer than the result needs (an untouched page costs
        // nothing, but the heap grows past its first 128 KiB for it).
        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        let mut stdout =
            std::io::BufWriter::with_capacity(total.clamp(1, 64 * 1024), std::io::stdout().lock());
        pieces
            .iter()
            .try_for_each(|piece| {
                if sanitise {
                    write_escaped(piece, true, &mut stdout)
                } else {
                    stdout.write_all(piece.as_bytes())
                }
            })
            .and_then(|()| stdout.flush())
            .map_err(McpError::Output)
    }

    /// Writes one JSON value to stdout, pretty, with a final newline.
    pub fn out_json(&self, value: &serde_json::Value) -> Result<(), McpError> {
        self.out_json_text(&value.to_string())
    }

    /// Writes JSON text (valid, as serde_json writes or reads it) to
    /// stdout, pretty, with a final newline, as it goes (see [`write_json`]).
    pub fn out_json_text(&self, text: &str) -> Result<(), McpError> {
        self.clear_progress();
        let mut stdout = std::io::BufWriter::with_capacity(
            (text.len() + 1).min(64 * 1024),
            std::io::stdout().lock(),
        );
        write_json(text, true, &mut stdout)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush())
            .map_err(McpError::Output)
    }

    /// A warning on stderr; under `--json`, one object `{"warning": ...}`
    /// per line (a replaced server must not go unsaid).
    pub fn warn(&self, message: &str) {
        self.clear_progress();
        if self.json {
            let warning = serde_json::json!({ "warning": message });
            to_stderr(&format!("{}\n", json_string(&warning, false)));
            return;
        }
        let message = lines(message);
        if self.color {
            to_stderr(&format!("\x1b[33mwarning\x1b[0m: {message}\n"));
        } else {
            to_stderr(&format!("warning: {message}\n"));
        }
    }

    /// A line for the person at the terminal, on stderr (a login's URL);
    /// under `--json`, `{"message": ...}`.
    pub fn note(&self, message: &str) {
        self.clear_progress();
        if self.json {
            let note = serde_json::json!({ "message": message });
            to_stderr(&format!("{}\n", json_string(&note, false)));
            return;
        }
        to_stderr(&format!("{}\n", lines(message)));
    }

    /// An error on stderr, in the human or the JSON form.
    pub fn error(&self, error: &McpError) {
        self.clear_progress();
        if self.json {
            to_stderr(&format!("{}\n", json_string(&error.to_json(), false)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn written(text: &str, pretty: bool) -> String {
        let mut out = Vec::new();
        write_json(text, pretty, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_is_laid_out_as_serde_json_does_and_numbers_stay_exact() {
        let text = r#"{"a": [], "b": {}, "c": [1, {"d": 123456789012345678901234567890}], "e": "\u001b x\u202ey"}"#;
        assert_eq!(
            written(text, true),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": 123456789012345678901234567890\n    }\n  ],\n  \"e\": \"\\u001b x\\u202ey\"\n}"
        );
        assert_eq!(
            written("{\"e\":\"x\u{202e}y\u{7f}\u{e0041}\"}", false),
            r#"{"e":"x\u202ey\u007f\udb40\udc41"}"#
        );
    }

    /// Deep nesting cannot make the output grow past about three times the
    /// text: the rest is written compact, still the same JSON.
    #[test]
    fn the_layout_is_bounded() {
        let text = format!("{}1{}", "[".repeat(20_000), "]".repeat(20_000));
        let out = written(&text, true);
        assert!(out.len() <= 3 * text.len() + (64 << 10), "{}", out.len());
        // Only layout was added (no string holds a space or a newline).
        assert_eq!(out.replace([' ', '\n'], ""), text);
        assert!(out.starts_with("[\n  [\n    ["), "{}", &out[..20]);
    }

    /// Any JSON value: written pretty, it is what serde_json writes (with
    /// the characters a terminal obeys escaped); either way it reads back
    /// as the same value.
    #[test]
    fn any_json_is_written_as_the_same_value() {
        let leaf = prop_oneof![
            any::<String>().prop_map(Value::from),
            "[a-z\u{7f}\u{85}\u{202e}\u{2066}\u{feff}\\\\\"]{0,6}".prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ];
        let value = leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec((any::<String>(), inner), 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        });
        let config = ProptestConfig {
            cases: 3_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(value in value)| {
            let compact = value.to_string();
            for pretty in [true, false] {
                let out = written(&compact, pretty);
                let back: Value = serde_json::from_str(&out).unwrap();
                prop_assert_eq!(&back, &value);
                prop_assert!(!out.chars().any(|c| c >= '\x7f' && unsafe_char(c)), "{out}");
            }
            let plain = serde_json::to_string_pretty(&value).unwrap();
            if !plain.chars().any(unsafe_char_raw) {
                prop_assert_eq!(written(&compact, true), plain);
            }
        });
    }

    /// Characters escaped in JSON output when raw.
    fn unsafe_char_raw(c: char) -> bool {
        c >= '\x7f' && unsafe_char(c)
    }
}
