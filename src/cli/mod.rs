//! The command line: parsing, from the tables in [`spec`].
//!
//! Hand-written over a declarative table, as ripgrep's is: the grammar is
//! small, and a derive-based parser cost about 0.18 ms of start-up per run,
//! 8% of a cold call, in a program that agents run thousands of times a day.
//! Flags may come anywhere (`mcp-cli call s t '{}' --json`); `--` ends them;
//! `-c x`, `-cx`, `-c=x`, `--config x` and `--config=x` are one thing; the
//! config path may be any bytes.

pub mod complete;
pub mod help;
pub mod spec;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::error::McpError;
use spec::{FLAGS, Flag, Kind, Verb};

/// The parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `-c/--config PATH`.
    pub config: Option<PathBuf>,
    /// `-d/--with-descriptions`.
    pub with_descriptions: bool,
    /// `--json`.
    pub json: bool,
    /// `--raw` (`call`): the result's text as it is, even on a terminal.
    pub raw: bool,
    /// `-H/--header 'NAME: VALUE'`, for a URL target.
    pub headers: Vec<String>,
    /// `--stdio COMMAND`: a server from the command line.
    pub stdio: Option<String>,
    /// `--no-daemon`.
    pub no_daemon: bool,
    /// `--status` (`auth`).
    pub status: bool,
    /// `--logout` (`auth`).
    pub logout: bool,
    /// The verb; none means `list`.
    pub command: Option<Command>,
}

/// The verbs that run against servers.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Every server and its tools.
    List,
    /// A server's details, or one tool's schema.
    Info {
        /// Server name, or `server/tool`.
        target: Option<String>,
        /// Tool name.
        tool: Option<String>,
    },
    /// Tool names matching a glob.
    Grep {
        /// The glob.
        pattern: String,
    },
    /// Call a tool.
    Call {
        /// Server name, or `server/tool`.
        target: String,
        /// The tool (unless in `target`), then the JSON arguments (words
        /// split by the shell, joined again) or `-`.
        rest: Vec<String>,
    },
    /// Trust a project's config file.
    Trust {
        /// The file; `./mcp_servers.json` when none.
        path: Option<String>,
    },
    /// Log in to a server (OAuth), or show or forget its tokens.
    Auth {
        /// The server's name or URL.
        target: Option<String>,
        /// What to do.
        action: AuthAction,
    },
    /// Show or stop the connection daemon.
    Daemon {
        /// `status` or `stop`.
        action: DaemonAction,
    },
    /// Hidden, for completions: the configured servers' names.
    Servers,
    /// Words that start with no verb: `mcp-cli <server>` (its info), or a
    /// mistake to explain once the config is known.
    Bare(Vec<String>),
}

/// What `mcp-cli auth` does.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum AuthAction {
    /// Log in.
    Login,
    /// List the servers with kept tokens.
    Status,
    /// Forget the server's tokens.
    Logout,
}

/// What `mcp-cli daemon` does.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum DaemonAction {
    /// Show what it holds.
    Status,
    /// Stop it and its servers.
    Stop,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run a command.
    Run(Args),
    /// Print this text on stdout and exit 0 (help, version, completions).
    Print(String),
}

/// The hidden verb completion scripts call for server names.
pub const SERVERS_VERB: &str = "__servers";

/// Parses the arguments after the program name, and remembers the `-c`
/// path for the commands that suggestions offer, even when the line does
/// not parse.
pub fn parse_command_line(arguments: Vec<OsString>) -> Result<Parsed, McpError> {
    parse_into(arguments, true)
}

/// Parses the arguments after the program name.
pub fn parse(arguments: impl IntoIterator<Item = OsString>) -> Result<Parsed, McpError> {
    parse_into(arguments, false)
}

/// [`parse`]; with `remember`, the `-c` path is kept for suggestions as
/// soon as it is read (the errors that follow suggest commands).
fn parse_into(
    arguments: impl IntoIterator<Item = OsString>,
    remember: bool,
) -> Result<Parsed, McpError> {
    let mut args = Args::default();
    let mut words: Vec<OsString> = Vec::new();
    // Flags as typed, to check the verb-specific ones once the verb is known.
    let mut seen: Vec<(&'static Flag, String)> = Vec::new();
    let (mut help, mut version, mut only_words) = (false, false, false);
    let mut iter = arguments.into_iter().peekable();
    while let Some(argument) = iter.next() {
        let bytes = argument.as_encoded_bytes();
        // `-1`: a negative number (a piece of JSON split by the shell), not
        // a flag: no flag is a digit.
        let number = bytes.len() > 1 && bytes[0] == b'-' && bytes[1].is_ascii_digit();
        if only_words || number || bytes == b"-" || !bytes.starts_with(b"-") {
            words.push(argument);
            continue;
        }
        if bytes == b"--" {
            only_words = true;
            continue;
        }
        let mut found = Vec::new();
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, inline) = split_value(long);
            let name = String::from_utf8_lossy(name);
            let flag = FLAGS
                .iter()
                .find(|flag| flag.long == name)
                .ok_or_else(|| unknown_option(&format!("--{name}")))?;
            let value = match (flag.value, inline) {
                (Some(_), inline) => Some(take_value(flag, inline, &mut iter)?),
                (None, Some(_)) => {
                    return Err(McpError::Usage {
                        message: format!("Option --{} takes no value", flag.long),
                        suggestion: Some(format!("write `--{}` alone", flag.long)),
                    });
                }
                (None, None) => None,
            };
            found.push((flag, value));
        } else {
            // A cluster of short flags: `-d`, `-dv`, `-c path`, `-cpath`, `-c=path`.
            let cluster = &bytes[1..];
            for (index, &byte) in cluster.iter().enumerate() {
                let Some(flag) = FLAGS
                    .iter()
                    .find(|flag| flag.short == Some(char::from(byte)))
                else {
                    return Err(unknown_option(&argument.to_string_lossy()));
                };
                if flag.value.is_some() {
                    let rest = &cluster[index + 1..];
                    // `-c=` is `-c` given an empty value, as `--config=` is.
                    let inline = match rest.strip_prefix(b"=") {
                        Some(value) => Some(os_string(value)),
                        None => (!rest.is_empty()).then(|| os_string(rest)),
                    };
                    found.push((flag, Some(take_value(flag, inline, &mut iter)?)));
                    break;
                }
                found.push((flag, None));
            }
        }
        for (flag, value) in found {
            seen.push((flag, argument.to_string_lossy().into_owned()));
            match flag.long {
                "config" => {
                    args.config = value.map(PathBuf::from);
                    if remember && let Some(path) = &args.config {
                        let _ = CONFIG_FLAG.set(quote(&path.to_string_lossy()));
                    }
                }
                "with-descriptions" => args.with_descriptions = true,
                "json" => args.json = true,
                "raw" => args.raw = true,
                "no-daemon" => args.no_daemon = true,
                "status" => args.status = true,
                "logout" => args.logout = true,
                "header" => args
                    .headers
                    .extend(value.map(|value| value.to_string_lossy().into_owned())),
                "stdio" => args.stdio = value.map(|value| value.to_string_lossy().into_owned()),
                "help" => help = true,
                "version" => version = true,
                other => unreachable!("flag `--{other}` has no meaning"),
            }
        }
    }
    let words = words
        .into_iter()
        .map(|word| {
            word.into_string().map_err(|raw| {
                McpError::usage(format!(
                    "argument `{}` is not valid UTF-8",
                    raw.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<String>, McpError>>()?;
    let verb = words.first().and_then(|word| spec::verb(word));
    if help || verb.is_some_and(|verb| verb.name == "help") {
        return help_for(verb, &words).map(Parsed::Print);
    }
    if version {
        return Ok(Parsed::Print(format!(
            "mcp-cli v{}\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let effective = verb.or_else(|| spec::verb("list").filter(|_| words.is_empty()));
    for (flag, typed) in &seen {
        if !flag.verbs.is_empty() && !effective.is_some_and(|verb| flag.verbs.contains(&verb.name))
        {
            return Err(McpError::UnknownOption {
                option: typed.clone(),
                detail: Some(format!(
                    "{} applies to {} only",
                    flag.name(),
                    flag.verbs.join(", ")
                )),
                suggestion: format!(
                    "use it with {}: see `mcp-cli help {}`",
                    flag.verbs.join(", "),
                    flag.verbs[0]
                ),
            });
        }
    }
    let Some(verb) = verb else {
        args.command = match words.first().map(String::as_str) {
            None => None,
            Some(SERVERS_VERB) => Some(Command::Servers),
            Some(_) => Some(Command::Bare(words)),
        };
        return Ok(Parsed::Run(args));
    };
    let mut rest = words[1..].to_vec();
    check_arity(verb, &rest)?;
    args.command = Some(match verb.name {
        "list" => Command::List,
        "info" => {
            let tool = (rest.len() > 1).then(|| rest.remove(1));
            Command::Info {
                target: rest.pop(),
                tool,
            }
        }
        "grep" => Command::Grep {
            pattern: rest.remove(0),
        },
        "call" => Command::Call {
            target: rest.remove(0),
            rest,
        },
        "trust" => Command::Trust { path: rest.pop() },
        "auth" => {
            let action = match (args.status, args.logout) {
                (true, true) => {
                    return Err(McpError::usage("--status and --logout do not go together"));
                }
                (true, false) => AuthAction::Status,
                (false, true) => AuthAction::Logout,
                (false, false) => AuthAction::Login,
            };
            let target = rest.pop();
            if target.is_none() && action != AuthAction::Status {
                return Err(McpError::MissingArgument {
                    command: "auth".to_owned(),
                    argument: "server".to_owned(),
                    suggestion: "mcp-cli auth <server|url> (`mcp-cli auth --status` lists those with kept tokens)".to_owned(),
                });
            }
            Command::Auth { target, action }
        }
        "daemon" => Command::Daemon {
            action: match rest[0].as_str() {
                "status" => DaemonAction::Status,
                "stop" => DaemonAction::Stop,
                other => {
                    return Err(McpError::Usage {
                        message: format!("`daemon` does `status` or `stop`, not `{other}`"),
                        suggestion: Some(
                            "mcp-cli daemon status, or mcp-cli daemon stop".to_owned(),
                        ),
                    });
                }
            },
        },
        "completions" => return complete::script(&rest[0]).map(Parsed::Print),
        other => unreachable!("verb `{other}` has no command"),
    });
    Ok(Parsed::Run(args))
}

/// Splits `name=value` at the first `=`.
fn split_value(bytes: &[u8]) -> (&[u8], Option<OsString>) {
    match bytes.iter().position(|&byte| byte == b'=') {
        Some(at) => (&bytes[..at], Some(os_string(&bytes[at + 1..]))),
        None => (bytes, None),
    }
}

/// Bytes split off an argument at an ASCII character, as an `OsString`.
fn os_string(bytes: &[u8]) -> OsString {
    // SAFETY: `bytes` is a piece of an `OsStr`'s encoded bytes cut next to
    // ASCII characters (`-`, `=`, a short flag's letter), which keeps it
    // valid, as `OsStr::from_encoded_bytes_unchecked` documents.
    unsafe { OsStr::from_encoded_bytes_unchecked(bytes) }.to_owned()
}

/// The value of `flag`: given inline, or the next argument.
fn take_value(
    flag: &Flag,
    inline: Option<OsString>,
    iter: &mut std::iter::Peekable<impl Iterator<Item = OsString>>,
) -> Result<OsString, McpError> {
    // A next word that is a flag (`-c --json`) is not the value: the value
    // was forgotten. Given inline (`--config=-x`), it is taken as it is.
    let value = match inline {
        Some(inline) => Some(inline),
        None => iter.next_if(|next| !next.as_encoded_bytes().starts_with(b"-")),
    };
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(McpError::MissingArgument {
            command: flag.name(),
            argument: flag.value.unwrap_or("value").to_lowercase(),
            suggestion: format!("Use `mcp-cli --{} ./mcp_servers.json`", flag.long),
        }),
    }
}

/// The help text `-h`, `--help` or `help [<verb>]` asks for.
fn help_for(verb: Option<&'static Verb>, words: &[String]) -> Result<String, McpError> {
    let topic = match verb {
        Some(verb) if verb.name == "help" => match words.get(1) {
            None => None,
            Some(word) => Some(spec::verb(word).ok_or_else(|| McpError::UnknownSubcommand {
                verb: word.clone(),
                did_you_mean: spec::did_you_mean(word).filter(|verb| *verb != "help"),
                rest: Vec::new(),
                for_help: true,
            })?),
        },
        other => other,
    };
    Ok(match topic {
        Some(verb) if verb.name != "help" => help::verb_help(verb),
        _ => help::main_help(),
    })
}

/// Checks the number of words after `verb`: `MISSING_ARGUMENT` or
/// `TOO_MANY_ARGUMENTS`. A `server/tool` word counts as both.
pub(crate) fn check_arity(verb: &Verb, rest: &[String]) -> Result<(), McpError> {
    let mut given = rest.len();
    let server_first =
        verb.args.len() > 1 && verb.args[0].kind == Kind::Server && verb.args[1].kind == Kind::Tool;
    let split = rest
        .first()
        .filter(|_| server_first)
        .and_then(|first| first.split_once('/'));
    // `/tool`: the server is what is missing.
    if split.is_some_and(|(server, _)| server.is_empty()) && verb.args[0].required {
        return Err(McpError::MissingArgument {
            command: verb.name.to_owned(),
            argument: verb.args[0].name.to_owned(),
            suggestion: format!("Usage: {}", verb.usage()),
        });
    }
    // Too many words is counted as typed: whether `a/b` is a server or a
    // server and a tool, only the config tells (the verb checks again).
    if let Some(max) = verb.max_args()
        && given > max
    {
        return Err(McpError::TooManyArguments {
            command: verb.name.to_owned(),
            received: given,
            max,
            usage: verb.usage(),
        });
    }
    if split.is_some_and(|(_, tool)| !tool.is_empty()) {
        given += 1;
    }
    let missing: Vec<&str> = verb
        .args
        .iter()
        .skip(given)
        .filter(|arg| arg.required)
        .map(|arg| arg.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if verb.name == "call"
        && let Some(server) = rest.first()
    {
        return Err(missing_tool(server.trim_end_matches('/')));
    }
    let example = verb
        .examples
        .first()
        .map(|(example, _)| format!(", for example `{example}`"))
        .unwrap_or_default();
    Err(McpError::MissingArgument {
        command: verb.name.to_owned(),
        argument: missing.join(" and "),
        suggestion: format!("Usage: {}{example}", verb.usage()),
    })
}

/// `call <server>` without the tool.
pub fn missing_tool(server: &str) -> McpError {
    McpError::MissingArgument {
        command: "call".to_owned(),
        argument: "tool".to_owned(),
        suggestion: format!(
            "run `{}` to list its tools, then `{} '{{...}}'`",
            suggest("info", &[server]),
            suggest("call", &[server, "<tool>"])
        ),
    }
}

/// An option mcp-cli does not have, with what was probably meant.
fn unknown_option(typed: &str) -> McpError {
    let option = typed.split('=').next().unwrap_or(typed).to_owned();
    let bare = option.trim_start_matches('-').to_lowercase();
    let suggestion = match bare.as_str() {
        "server" | "s" => "the server is a positional argument: `mcp-cli info <server>`".to_owned(),
        "tool" | "t" => {
            "the tool is a positional argument: `mcp-cli call <server> <tool>`".to_owned()
        }
        "args" | "arguments" | "a" | "input" | "params" | "data" => {
            "pass the JSON directly: `mcp-cli call <server> <tool> '{\"key\": \"value\"}'`"
                .to_owned()
        }
        "pattern" | "p" => {
            "the pattern is a positional argument: `mcp-cli grep '*pattern*'`".to_owned()
        }
        _ => match (spec::did_you_mean(&bare), closest_flag(&bare)) {
            (_, Some(flag)) => format!("did you mean `--{}`? See `mcp-cli --help`", flag.long),
            (Some(verb), None) => {
                format!("`{verb}` is a verb, not an option; see `mcp-cli help {verb}`")
            }
            (None, None) => format!(
                "valid options: {}",
                FLAGS.iter().map(Flag::name).collect::<Vec<_>>().join(", ")
            ),
        },
    };
    McpError::UnknownOption {
        option,
        detail: None,
        suggestion,
    }
}

/// The flag whose long name is within a third of `bare`'s length in edits
/// (at least one; `-json` finds `--json`).
fn closest_flag(bare: &str) -> Option<&'static Flag> {
    let limit = (bare.chars().count() / 3).max(1);
    FLAGS
        .iter()
        .map(|flag| (crate::commands::edit_distance(bare, flag.long), flag))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, flag)| flag)
}

/// The config file named with `-c`, for the commands suggestions offer.
static CONFIG_FLAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A command line for a suggestion, ready to paste into a shell: `mcp-cli`,
/// this run's `-c`, the verb, then the words quoted, after `--` when one of
/// them starts with `-` (a server called `-x`). Words of the form `<name>`
/// are placeholders and left as they are.
pub fn suggest(verb: &str, words: &[&str]) -> String {
    let mut line = String::from("mcp-cli");
    if let Some(config) = CONFIG_FLAG.get() {
        line.push_str(" -c ");
        line.push_str(config);
    }
    line.push(' ');
    line.push_str(verb);
    if words.iter().any(|word| word.starts_with('-')) {
        line.push_str(" --");
    }
    for word in words {
        line.push(' ');
        let placeholder = word.starts_with('<') && word.ends_with('>') && !word.contains(' ');
        if placeholder {
            line.push_str(word);
        } else {
            line.push_str(&quote(word));
        }
    }
    line
}

/// `word` as a shell reads it back: as it is when it holds only safe
/// characters, else in single quotes.
pub fn quote(word: &str) -> String {
    quote_allowing(word, "")
}

/// [`quote`], taking the characters of `also` as safe too (`${}` to show
/// a config's `${VAR}` as written).
pub fn quote_allowing(word: &str, also: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c) || also.contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Result<Parsed, McpError> {
        parse(words.iter().map(OsString::from))
    }

    fn args(words: &[&str]) -> Args {
        match run(words) {
            Ok(Parsed::Run(args)) => args,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn error_type(words: &[&str]) -> &'static str {
        match run(words) {
            Err(error) => error.error_type(),
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn flags_go_anywhere() {
        let parsed = args(&["call", "s", "t", "{}", "--json", "-c", "x.json", "-d"]);
        assert_eq!(
            parsed,
            Args {
                config: Some("x.json".into()),
                with_descriptions: true,
                json: true,
                raw: false,
                headers: Vec::new(),
                stdio: None,
                no_daemon: false,
                status: false,
                logout: false,
                command: Some(Command::Call {
                    target: "s".into(),
                    rest: vec!["t".into(), "{}".into()]
                }),
            }
        );
        for spelling in [
            &["--config=a.json"][..],
            &["--config", "a.json"],
            &["-ca.json"],
            &["-c=a.json"],
            &["-c", "a.json"],
            &["-dc", "a.json"],
        ] {
            assert_eq!(args(spelling).config, Some("a.json".into()), "{spelling:?}");
        }
        assert_eq!(args(&[]).command, None);
    }

    #[test]
    fn a_config_path_may_be_any_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let path = OsStr::from_bytes(b"caf\xe9.json");
        for argv in [
            vec![OsString::from("-c"), path.to_owned()],
            vec![OsString::from(OsStr::from_bytes(b"--config=caf\xe9.json"))],
            vec![OsString::from(OsStr::from_bytes(b"-ccaf\xe9.json"))],
        ] {
            let Ok(Parsed::Run(parsed)) = parse(argv) else {
                panic!()
            };
            assert_eq!(parsed.config.unwrap().as_os_str(), path);
        }
        // A word that must be a name is refused, not mangled.
        let argv = vec![OsString::from("info"), path.to_owned()];
        assert_eq!(parse(argv).unwrap_err().error_type(), "USAGE_ERROR");
    }

    #[test]
    fn dash_and_double_dash_are_words() {
        let parsed = args(&["call", "s/t", "-"]);
        assert_eq!(
            parsed.command,
            Some(Command::Call {
                target: "s/t".into(),
                rest: vec!["-".into()]
            })
        );
        let parsed = args(&["grep", "--", "--weird"]);
        assert_eq!(
            parsed.command,
            Some(Command::Grep {
                pattern: "--weird".into()
            })
        );
    }

    #[test]
    fn verbs_and_their_arity() {
        assert_eq!(
            args(&["info", "s", "t"]).command,
            Some(Command::Info {
                target: Some("s".into()),
                tool: Some("t".into())
            })
        );
        assert_eq!(args(&["ls"]).command, Some(Command::List));
        assert_eq!(
            args(&["run", "x"]).command,
            Some(Command::Bare(vec!["run".into(), "x".into()]))
        );
        // Unquoted JSON, split by the shell, is kept for `call` to join.
        assert_eq!(
            args(&["call", "s", "t", "{\"a\":", "1}"]).command,
            Some(Command::Call {
                target: "s".into(),
                rest: vec!["t".into(), "{\"a\":".into(), "1}".into()]
            })
        );
        for (words, kind) in [
            (&["grep"][..], "MISSING_ARGUMENT"),
            (&["call"], "MISSING_ARGUMENT"),
            (&["call", "s"], "MISSING_ARGUMENT"),
            (&["call", "s/"], "MISSING_ARGUMENT"),
            (&["-c"], "MISSING_ARGUMENT"),
            (&["--config="], "MISSING_ARGUMENT"),
            (&["completions"], "MISSING_ARGUMENT"),
            (&["grep", "a", "b"], "TOO_MANY_ARGUMENTS"),
            (&["list", "x"], "TOO_MANY_ARGUMENTS"),
            (&["--bogus"], "UNKNOWN_OPTION"),
            (&["--server"], "UNKNOWN_OPTION"),
            (&["--args"], "UNKNOWN_OPTION"),
            (&["--call"], "UNKNOWN_OPTION"),
            (&["-x"], "UNKNOWN_OPTION"),
            (&["-dx"], "UNKNOWN_OPTION"),
            (&["--json=1"], "USAGE_ERROR"),
            (&["completions", "tcsh"], "USAGE_ERROR"),
            (&["help", "nope"], "UNKNOWN_SUBCOMMAND"),
        ] {
            assert_eq!(error_type(words), kind, "{words:?}");
        }
        assert_eq!(
            args(&["call", "s/t"]).command,
            Some(Command::Call {
                target: "s/t".into(),
                rest: vec![]
            })
        );
    }

    #[test]
    fn a_verb_flag_belongs_to_its_verb() {
        assert!(args(&["call", "s", "t", "--raw"]).raw);
        assert!(args(&["--raw", "call", "s", "t"]).raw);
        for words in [&["--raw"][..], &["grep", "x", "--raw"], &["info", "--raw"]] {
            let Err(error) = run(words) else {
                panic!("{words:?}")
            };
            assert_eq!(error.error_type(), "UNKNOWN_OPTION", "{words:?}");
            assert!(error.details()[0].contains("applies to call"), "{words:?}");
        }
    }

    #[test]
    fn unknown_options_say_what_was_meant() {
        let suggestion = |words: &[&str]| match run(words) {
            Err(error) => error.suggestion().unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(suggestion(&["--jsn"]).contains("`--json`"));
        assert!(suggestion(&["-json"]).contains("`--json`"));
        assert!(suggestion(&["--call"]).contains("mcp-cli help call"));
        assert!(!suggestion(&["--call"]).contains("--help`?"));
        assert!(suggestion(&["--server"]).contains("mcp-cli info <server>"));
        assert!(suggestion(&["--zzzzzz"]).contains("-c/--config"));
    }

    #[test]
    fn help_version_and_completions_print() {
        let printed = |words: &[&str]| match run(words) {
            Ok(Parsed::Print(text)) => text,
            other => panic!("{words:?}: {other:?}"),
        };
        assert!(printed(&["-h"]).contains("Exit codes"));
        assert!(printed(&["call", "--help"]).contains("1 s"));
        assert_eq!(printed(&["help", "call"]), printed(&["call", "-h"]));
        assert!(printed(&["help", "grep"]).contains("glob"));
        assert_eq!(printed(&["help"]), printed(&["--help"]));
        assert_eq!(
            printed(&["-v"]),
            format!("mcp-cli v{}\n", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(printed(&["--version"]), printed(&["-v"]));
        assert!(printed(&["completions", "bash"]).contains("complete -F"));
    }

    /// Random command lines, from pieces that meet at the parser's edges,
    /// never panic: each parses, prints or is an error with a TYPE.
    #[test]
    fn random_command_lines_never_panic() {
        use proptest::prelude::*;
        use std::os::unix::ffi::OsStrExt;
        const PIECES: &[&[u8]] = &[
            b"call",
            b"info",
            b"grep",
            b"list",
            b"ls",
            b"help",
            b"trust",
            b"completions",
            b"bash",
            b"zsh",
            b"-",
            b"--",
            b"-c",
            b"-c=",
            b"--config",
            b"--config=",
            b"-d",
            b"-dc",
            b"-cd",
            b"--json",
            b"--json=1",
            b"--raw",
            b"-h",
            b"--help",
            b"-v",
            b"--version",
            b"-x",
            b"-json",
            b"s",
            b"s/t",
            b"s/",
            b"/t",
            b"/",
            b"{\"a\":",
            b"1}",
            b"-1,",
            b"",
            b" ",
            b"=",
            b"\xff\xfe",
            b"caf\xc3\xa9",
            b"\xe2\x80\xae",
            b"--=",
            b"---",
            b"-=",
            b"__servers",
            b"run",
            b"gerp",
        ];
        // A word: one piece, or two run together, or arbitrary bytes.
        let word = prop_oneof![
            8 => (0..PIECES.len(), proptest::option::of(0..PIECES.len())).prop_map(
                |(first, second)| {
                    let mut word = PIECES[first].to_vec();
                    if let Some(second) = second {
                        word.extend_from_slice(PIECES[second]);
                    }
                    word
                }
            ),
            1 => proptest::collection::vec(any::<u8>(), 0..12),
        ];
        let config = ProptestConfig {
            cases: 20_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(words in proptest::collection::vec(word, 0..7))| {
            let argv: Vec<OsString> = words
                .iter()
                .map(|word| OsStr::from_bytes(word).to_owned())
                .collect();
            if let Err(error) = parse(argv.clone()) {
                prop_assert!(!error.error_type().is_empty(), "{argv:?}");
                let _ = (error.render(), error.to_json());
            }
        });
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("fs"), "fs");
        assert_eq!(quote("my server"), "'my server'");
        assert_eq!(quote("{\"a\":1}"), "'{\"a\":1}'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
