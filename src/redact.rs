//! Secrets are shown nowhere: the one place that decides what of a config
//! value may be shown.
//!
//! Everything that shows a config value (`info`, errors, the listing, debug
//! lines) shows it as written, before `${VAR}` substitution, and through
//! these functions: credentials in URLs, query parameters and flags whose
//! names look secret, values of variables and headers whose names look
//! secret, and literal defaults in `${VAR:-default}` become `***`.

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Whether a variable, header, flag or query parameter called `name` looks
/// like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let upper = name.trim_start_matches('-').to_ascii_uppercase();
    const PARTS: &[&str] = &[
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "AUTH",
        "CREDENTIAL",
        "JWT",
        "BEARER",
        "COOKIE",
        "SESSION",
        "PRIVATE",
        "CONNECTION",
        "SIGNATURE",
    ];
    // Short ones that would match too much as parts (`PATH`, `SIGNAL`,
    // `CODEC`): whole words of the name only (`GITHUB_PAT`, `DB_PWD`).
    const WORDS: &[&str] = &["PAT", "PW", "PWD", "SIG", "CODE", "DSN"];
    PARTS.iter().any(|part| upper.contains(part))
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| WORDS.contains(&word))
        || upper.ends_with("_URL")
        || upper.ends_with("_URI")
        || upper.ends_with("_DSN")
}

/// Whether a value looks like a credential by its form, whatever its name:
/// the prefixes of common API keys and tokens, and JWTs.
fn token_shaped(value: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "pk_live_",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xapp-",
        "AKIA",
        "ASIA",
        "AIza",
        "ya29.",
        "eyJ",
        "hf_",
        "npm_",
        "pypi-",
        "dop_v1_",
        "shpat_",
        "SG.",
    ];
    let value = value.trim();
    value.len() >= 12 && PREFIXES.iter().any(|prefix| value.starts_with(prefix))
}

/// A value as written in the config, with what may be a secret masked:
/// literal defaults of `${VAR:-default}`, the password (or the whole user
/// information) of URLs, query parameters whose names look secret, and
/// values shaped like API keys.
pub fn value(text: &str) -> String {
    consent_value(&defaults(text))
}

/// [`value`], keeping the literal defaults of `${VAR:-default}`: what the
/// user is asked to trust shows the code that may run.
pub fn consent_value(text: &str) -> String {
    if token_shaped(text) {
        return MASK.to_owned();
    }
    urls(text)
}

/// The value of the variable or header `name`, as written (`raw`): masked
/// whole when the name looks secret, unless it is only `${VAR}` references
/// (which name a variable and show nothing of it).
pub fn setting(name: &str, raw: &str) -> String {
    if secret_name(name) && !only_references(raw) {
        MASK.to_owned()
    } else {
        value(raw)
    }
}

/// [`setting`], keeping literal defaults unless the name looks secret.
pub fn consent_setting(name: &str, raw: &str) -> String {
    if secret_name(name) && !only_references(raw) {
        MASK.to_owned()
    } else {
        consent_value(raw)
    }
}

/// A command's arguments, as written: each through [`value`], and masked:
/// the value of a flag whose name looks secret (`--api-key sk-1`,
/// `--token=ghp_1`), of a `NAME=value` assignment whose name does
/// (`-e GITHUB_TOKEN=x`, `env API_KEY=x`), and of a header whose name does
/// (`--header "Authorization: Bearer x"`), unless it is only `${VAR}`
/// references.
pub fn args<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    masked_args(args, value)
}

/// [`args`], keeping literal defaults (see [`consent_value`]).
pub fn consent_args<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    masked_args(args, consent_value)
}

fn masked_args<S: AsRef<str>>(args: &[S], show: fn(&str) -> String) -> Vec<String> {
    let mut shown = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for arg in args {
        let arg = arg.as_ref();
        if std::mem::take(&mut mask_next) && !only_references(arg) {
            shown.push(MASK.to_owned());
            continue;
        }
        // `--flag=value` and `NAME=value`.
        if let Some((name, secret)) = arg.split_once('=')
            && !name.contains(char::is_whitespace)
            && secret_name(name)
            && !only_references(secret)
        {
            shown.push(format!("{name}={MASK}"));
            continue;
        }
        // `Name: value`, a header.
        if let Some((name, secret)) = arg.split_once(": ")
            && !name.is_empty()
            && !name.contains(char::is_whitespace)
            && secret_name(name)
            && !only_references(secret)
        {
            shown.push(format!("{name}: {MASK}"));
            continue;
        }
        if arg.starts_with('-') && !arg.contains('=') {
            mask_next = secret_name(arg);
        }
        shown.push(show(arg));
    }
    shown
}

/// A message from elsewhere (an authorization server's error, which may
/// echo the request) with the `known` secrets masked, and the values of
/// `name=value` (a form, a query) and `"name": "value"` (JSON) pairs whose
/// name looks secret (`code`, `code_verifier`, `*token*`, `*secret*`,
/// `*assertion*`, ...).
pub fn message(text: &str, known: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in known.iter().filter(|secret| secret.len() >= 4) {
        text = text.replace(secret, MASK);
    }
    let secret = |name: &str| {
        let lower = name.to_ascii_lowercase();
        secret_name(name)
            || lower.contains("assertion")
            || lower.contains("verifier")
            || lower == "code"
            || lower == "password"
    };
    let name_before = |text: &str, end: usize| {
        let start = text[..end]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(0, |at| at + 1);
        text[start..end].to_owned()
    };
    let mut out = String::with_capacity(text.len());
    let mut consumed = 0;
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let (value_start, quoted, name) = if bytes[at] == b'=' {
            (at + 1, false, name_before(&text, at))
        } else if bytes[at] == b':' && at > 0 && bytes[at - 1] == b'"' {
            let name_end = at - 1;
            let name = name_before(&text, name_end);
            let mut start = at + 1;
            while start < bytes.len() && bytes[start] == b' ' {
                start += 1;
            }
            if start < bytes.len() && bytes[start] == b'"' {
                (start + 1, true, name)
            } else {
                at += 1;
                continue;
            }
        } else {
            at += 1;
            continue;
        };
        if name.is_empty() || !secret(&name) {
            at += 1;
            continue;
        }
        let end = text[value_start..]
            .find(|c: char| {
                if quoted {
                    c == '"'
                } else {
                    c == '&' || c == '"' || c == ',' || c == ';' || c == ')' || c.is_whitespace()
                }
            })
            .map_or(text.len(), |offset| value_start + offset);
        if end > value_start {
            out.push_str(&text[consumed..value_start]);
            out.push_str(MASK);
            consumed = end;
        }
        at = end.max(at + 1);
    }
    out.push_str(&text[consumed..]);
    out
}

/// A config line as an error shows it: only its quoted keys and JSON's
/// punctuation; every value, quoted or not (`sk-1`, `'sk-2'`), is masked,
/// so that a syntax error shows where it is without what is there (the
/// file may not even be JSON: a `.env` or `.netrc` linked in its place).
pub fn config_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.char_indices();
    let mut masked = false;
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() || matches!(c, '{' | '}' | '[' | ']' | ',' | ':') {
            out.push(c);
            masked = false;
            continue;
        }
        if c == '"' {
            let mut end = None;
            let mut escaped = false;
            for (index, c) in chars.by_ref() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(index);
                        break;
                    }
                    _ => {}
                }
            }
            match end {
                Some(end) if line[end + 1..].trim_start().starts_with(':') => {
                    out.push_str(&line[start..=end]);
                }
                Some(_) => out.push_str(&format!("\"{MASK}\"")),
                None => {
                    out.push_str(&format!("\"{MASK}"));
                    break;
                }
            }
            masked = false;
            continue;
        }
        // Anything else (an unquoted word, a number, a comment) is masked,
        // once per run of such characters.
        if !masked {
            out.push_str(MASK);
            masked = true;
        }
    }
    out
}

/// Whether `text` is nothing but `${VAR}` references, without defaults,
/// after an optional `Bearer ` or `Basic `: it names variables and shows
/// nothing of their values.
fn only_references(text: &str) -> bool {
    let mut rest = text.trim();
    if let Some(after) = rest
        .strip_prefix("Bearer ")
        .or_else(|| rest.strip_prefix("Basic "))
    {
        rest = after.trim_start();
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix("${") else {
            return false;
        };
        let Some(end) = after.find('}') else {
            return false;
        };
        let inner = &after[..end];
        if inner.contains(":-") || inner.contains('$') {
            return false;
        }
        rest = &after[end + 1..];
    }
    true
}

/// `${VAR:-default}` → `${VAR:-***}`.
fn defaults(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        // The matching `}`, past the braces of a nested `${...}` default.
        let mut depth = 0;
        let end = after.char_indices().skip(1).find_map(|(index, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(index)
        });
        match end {
            Some(end) => {
                let inner = &after[2..end];
                match inner.split_once(":-") {
                    Some((var, default)) if !default.is_empty() => {
                        out.push_str(&format!("${{{var}:-{MASK}}}"));
                    }
                    _ => out.push_str(&after[..=end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Masks credentials in every URL in `text`: `scheme://user:pass@host` →
/// `scheme://user:***@host` (`scheme://token@host` → `scheme://***@host`),
/// and `?token=x` → `?token=***`.
fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: letters, digits, `+`, `-`, `.` before `://`.
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |index| index + 1);
        if scheme_start == at {
            out.push_str(&rest[..at + 3]);
            rest = &rest[at + 3..];
            continue;
        }
        out.push_str(&rest[..at + 3]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(after.len());
        out.push_str(&url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// One URL after its `scheme://`.
fn url(url: &str) -> String {
    // The authority ends at the first `/`, `?` or `#`; but a password may
    // hold a `/` (`user:p4ss/w0rd@host`): a `user:` then an `@` before the
    // query is taken for user information that runs to the last `@`.
    let query = url.find(['?', '#']).unwrap_or(url.len());
    let authority_end = match url[..query].rfind('@') {
        Some(at)
            if url[..at]
                .split('/')
                .next()
                .is_some_and(|user| user.contains(':')) =>
        {
            url[at..]
                .find(['/', '?', '#'])
                .map_or(url.len(), |end| at + end)
        }
        _ => url.find(['/', '?', '#']).unwrap_or(url.len()),
    };
    let (authority, tail) = url.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, value))
                        if secret_name(name) && !value.is_empty() && !only_references(value) =>
                    {
                        format!("{name}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            value("postgres://user:hunter2@host/db"),
            "postgres://user:***@host/db"
        );
        assert_eq!(
            value("https://ghp_x@github.com/a"),
            "https://***@github.com/a"
        );
        assert_eq!(
            value("https://h/mcp?api_key=sk-1&page=2#top"),
            "https://h/mcp?api_key=***&page=2#top"
        );
        assert_eq!(value("https://h/mcp?key=${K}"), "https://h/mcp?key=${K}");
        assert_eq!(value("plain text, no url"), "plain text, no url");
        assert_eq!(
            value("--db=mysql://root:pw@127.0.0.1:3306/x"),
            "--db=mysql://root:***@127.0.0.1:3306/x"
        );
    }

    #[test]
    fn defaults_are_masked_and_references_kept() {
        assert_eq!(
            value("${OPENAI_API_KEY:-sk-default}"),
            "${OPENAI_API_KEY:-***}"
        );
        assert_eq!(value("${HOME}/x"), "${HOME}/x");
        assert_eq!(value("${A:-}"), "${A:-}");
        assert_eq!(value("${A:-${B}}/x"), "${A:-***}/x");
    }

    #[test]
    fn secret_settings_are_masked_unless_only_references() {
        for name in [
            "GITHUB_PAT",
            "DB_PASS",
            "BEARER",
            "DATABASE_URL",
            "SENTRY_DSN",
            "API_KEY",
            "Authorization",
            "X-Api-Key",
            "PG_CONNECTION",
            "JWT",
        ] {
            assert_eq!(setting(name, "literal"), MASK, "{name}");
            assert_eq!(setting(name, "${VAR}"), "${VAR}", "{name}");
        }
        assert_eq!(
            setting("Authorization", "Bearer ${TOKEN}"),
            "Bearer ${TOKEN}"
        );
        assert_eq!(setting("Authorization", "Bearer sk-1"), MASK);
        assert_eq!(setting("API_KEY", "${K:-sk-default}"), MASK);
        assert_eq!(setting("LOG_LEVEL", "info"), "info");
    }

    #[test]
    fn secret_flags_lose_their_values() {
        assert_eq!(
            args(&[
                "--api-key",
                "sk-live-123",
                "--token=ghp_abc",
                "--verbose",
                "postgres://user:hunter2@host/db",
                "--password",
                "${PW}",
                "-y",
            ]),
            [
                "--api-key",
                "***",
                "--token=***",
                "--verbose",
                "postgres://user:***@host/db",
                "--password",
                "${PW}",
                "-y",
            ]
        );
    }

    #[test]
    fn secrets_in_other_forms_are_masked() {
        assert_eq!(
            args(&[
                "--header",
                "Authorization: Bearer sk-1",
                "-e",
                "GITHUB_PERSONAL_ACCESS_TOKEN=ghp_1",
                "PLAIN=1"
            ]),
            [
                "--header",
                "Authorization: ***",
                "-e",
                "GITHUB_PERSONAL_ACCESS_TOKEN=***",
                "PLAIN=1"
            ]
        );
        assert_eq!(args(&["--pw", "x"]), ["--pw", "***"]);
        assert_eq!(
            value("postgresql://admin:p4ss/w0rd@host/db"),
            "postgresql://admin:***@host/db"
        );
        assert_eq!(
            value("https://h/b?sv=1&sig=abc"),
            "https://h/b?sv=1&sig=***"
        );
        assert_eq!(
            value("https://registry.example/@scope/pkg"),
            "https://registry.example/@scope/pkg"
        );
        assert_eq!(setting("STRIPE", "sk_live_0123456789"), MASK);
        assert_eq!(setting("ANTHROPIC", "sk-ant-0123456789"), MASK);
        assert_eq!(setting("SIGNAL", "on"), "on");
        assert_eq!(setting("PATH", "/usr/bin"), "/usr/bin");
        assert_eq!(setting("GITHUB_PAT", "x"), MASK);
        assert_eq!(setting("DB_PWD", "x"), MASK);
        // What is trusted shows the defaults, which may be code.
        assert_eq!(
            consent_args(&["${FS_OPTS:-echo PWNED}", "--token", "x"]),
            ["${FS_OPTS:-echo PWNED}", "--token", "***"]
        );
    }

    #[test]
    fn messages_lose_the_secrets_they_echo() {
        let echoed = r#"invalid_grant: you sent: grant_type=authorization_code&code=c0de&code_verifier=v3rif&client_secret=s3cret {"access_token": "t0ken", "scope":"mcp"} refresh_token=r1 (client_assertion=a.b.c)"#;
        let shown = message(echoed, &["hunter22"]);
        for secret in ["c0de", "v3rif", "s3cret", "t0ken", "r1", "a.b.c"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("grant_type=authorization_code"), "{shown}");
        assert!(shown.contains(r#""scope":"mcp""#), "{shown}");
        assert_eq!(
            message("the secret is hunter22.", &["hunter22"]),
            "the secret is ***."
        );
    }

    #[test]
    fn config_lines_keep_their_keys() {
        assert_eq!(
            config_line(r#"    "env": {"TOKEN": "sk-1",, "N": "a\"b"}"#),
            r#"    "env": {"TOKEN": "***",, "N": "***"}"#
        );
        assert_eq!(
            config_line(r#"  "args": ["--key", "sk"#),
            r#"  "args": ["***", "***"#
        );
        assert_eq!(
            config_line(r#"{"env": {"API_KEY": sk-live-1, 'sk-2', 12}}"#),
            r#"{"env": {"API_KEY": ***, ***, ***}}"#
        );
        assert_eq!(
            config_line("machine h login u password hunter2"),
            "*** *** *** *** *** ***"
        );
    }
}
