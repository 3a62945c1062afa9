//! mcp-cli: discover, inspect and call the tools of MCP servers from a shell.
//!
//! `main` parses argv ([`cli`]), resolves settings from `MCP_*` variables
//! ([`settings`]) and the config file ([`config`]), runs one verb
//! ([`commands`]) over connections from [`client`], with retries and one
//! deadline from [`retry`], and prints through [`printer`]. Every failure is
//! an [`error::McpError`], which decides the exit code.

#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod env_vars;
pub mod error;
pub mod printer;
pub mod retry;
pub mod settings;
pub mod signals;

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Args, Command, Parsed};
use crate::commands::{Context, Signals};
use crate::error::{McpError, exit};
use crate::printer::Printer;
use crate::settings::Settings;

/// Verbs and the words people type for them, for did-you-mean.
const VERB_ALIASES: &[(&str, &str)] = &[
    ("run", "call"),
    ("exec", "call"),
    ("execute", "call"),
    ("invoke", "call"),
    ("tool", "call"),
    ("search", "grep"),
    ("find", "grep"),
    ("show", "info"),
    ("describe", "info"),
    ("inspect", "info"),
    ("schema", "info"),
    ("tools", "list"),
    ("servers", "list"),
];
const VERBS: &[&str] = &["list", "info", "grep", "call"];

/// Runs mcp-cli with these arguments (the program's name left out) and
/// returns its exit code.
pub fn main(argv: Vec<std::ffi::OsString>) -> u8 {
    // Only a command line that does not parse is scanned for `--json` by hand.
    let json_asked = argv.iter().any(|arg| arg == "--json");
    let printer = Arc::new(Printer::new(json_asked));
    match cli::parse(argv) {
        Ok(Parsed::Run(args)) => run_in_runtime(Arc::new(Printer::new(args.json)), args),
        Ok(Parsed::Help(text)) => report_output(&printer, printer.out(&text)),
        Ok(Parsed::Version) => report_output(
            &printer,
            printer.out(&format!("mcp-cli {}\n", env!("CARGO_PKG_VERSION"))),
        ),
        Err(error) => report(&printer, &error),
    }
}

fn report_output(printer: &Printer, result: Result<(), McpError>) -> u8 {
    match result {
        Ok(()) => exit::SUCCESS,
        Err(error) => report(printer, &error),
    }
}

fn run_in_runtime(printer: Arc<Printer>, args: Args) -> u8 {
    let (signals, watch_signals) = signals::watch(printer.json());
    let (context, command) = match prepare(args, printer.clone(), Signals(signals)) {
        Ok(prepared) => prepared,
        Err(error) => return report(&printer, &error),
    };
    // The servers boot while the runtime is built and the command set up.
    context.start_early(&command);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(&printer, &McpError::Output(error)),
    };
    let code = runtime.block_on(async {
        watch_signals();
        match run(&context, command).await {
            Ok(()) => exit::SUCCESS,
            Err(error) => report(&printer, &error),
        }
    });
    // No task owns a server by now (each command closes or drops its
    // sessions itself), and the process exits next: the runtime's tasks,
    // pipes and timers go with it, where tearing them down one by one would
    // only delay the exit, and a blocked stdin reader cannot hold it. (A
    // server some task still held would be stopped by `stop_all` below.)
    std::mem::forget(runtime);
    // Servers started early and never used go first, while they are
    // surely not reaped yet.
    drop(context);
    client::stop_all(Duration::from_millis(500));
    code
}

/// Prints the error (unless stdout's reader went away) and returns its exit code.
fn report(printer: &Printer, error: &McpError) -> u8 {
    if let McpError::Output(io) = error
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return exit::SUCCESS;
    }
    printer.error(error);
    error.exit_code()
}

/// Everything a command needs before it runs: settings, the config, the
/// verb. Nothing here waits, so it runs before the async runtime exists.
fn prepare(
    args: Args,
    printer: Arc<Printer>,
    signals: Signals,
) -> Result<(Context, Command), McpError> {
    let Args {
        config: config_flag,
        with_descriptions,
        json: _,
        command,
    } = args;
    let settings = Settings::from_env()?;
    printer::set_debug(settings.debug);
    let command = command.unwrap_or(Command::List);
    if let Command::External(words) = &command {
        return Err(external_error(words, config_flag.as_deref(), &settings));
    }
    let path = config::find(config_flag.as_deref())?;
    let config = config::load(&path, &settings)?;
    for warning in &config.warnings {
        printer.warn(warning);
    }
    let context = Context {
        deadline: tokio::time::Instant::now() + config.timeout,
        config,
        printer,
        with_descriptions,
        signals,
        early: Default::default(),
    };
    Ok((context, command))
}

async fn run(context: &Context, command: Command) -> Result<(), McpError> {
    match command {
        Command::List => commands::list(context).await,
        Command::Info { target, tool } => {
            commands::info(context, target.as_deref(), tool.as_deref()).await
        }
        Command::Grep { pattern } => commands::grep(context, &pattern).await,
        Command::Call { target, rest } => commands::call(context, &target, &rest).await,
        Command::External(_) => unreachable!("prepare reports it"),
    }
}

/// `mcp-cli foo ...`: an unknown verb, or a server/tool without one.
fn external_error(
    words: &[String],
    config_flag: Option<&std::path::Path>,
    settings: &Settings,
) -> McpError {
    let first = words.first().map(String::as_str).unwrap_or("");
    // `mcp-cli <server> ...` or `mcp-cli <server>/<tool>`: a verb is missing.
    let names_a_server = config::find(config_flag)
        .and_then(|path| config::load(&path, settings))
        .is_ok_and(|config| {
            let (server, _) = commands::split_target(&config, first, None);
            config.server(server).is_ok()
        });
    if names_a_server {
        return McpError::AmbiguousCommand {
            words: words.to_vec(),
        };
    }
    let lower = first.to_lowercase();
    let did_you_mean = VERB_ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, verb)| *verb)
        .or_else(|| {
            // The closest verb or alias, within two edits.
            VERBS
                .iter()
                .map(|verb| (*verb, *verb))
                .chain(VERB_ALIASES.iter().copied())
                .map(|(word, verb)| (commands::edit_distance(&lower, word), verb))
                .filter(|(distance, _)| *distance <= 2)
                .min()
                .map(|(_, verb)| verb)
        });
    McpError::UnknownSubcommand {
        verb: first.to_owned(),
        did_you_mean,
    }
}
