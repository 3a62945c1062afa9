//! `--help`, `help <verb>` and the README's usage reference, made from
//! the tables in [`super::spec`].

use super::spec::{FLAGS, Flag, VERBS, Verb};

/// The program's help: every verb, flag, variable and exit code.
pub fn main_help() -> String {
    let mut usage: Vec<(String, &str)> = VERBS
        .iter()
        .map(|verb| {
            let line = if verb.name == "list" {
                "mcp-cli [options] [list]".to_owned()
            } else {
                verb.usage()
            };
            (line, verb.summary)
        })
        .collect();
    usage.push((
        "mcp-cli [options] <server>".to_owned(),
        "as `info <server>`",
    ));
    let width = usage.iter().map(|(line, _)| line.len()).max().unwrap_or(0);
    let mut text = format!(
        "mcp-cli v{}: discover, inspect and call the tools of MCP servers from a shell.\n\nUsage:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (line, summary) in usage {
        text.push_str(&format!("  {line:<width$}  {summary}\n"));
    }
    text.push_str(
        "\n`server tool` and `server/tool` both work, for `info` and `call`.\n\
         Data goes to stdout, diagnostics to stderr.\n\n",
    );
    text.push_str(&options(FLAGS.iter()));
    text.push_str(
        "\nConfig file (Claude Desktop's `mcpServers`, or VS Code's `servers`), the first of:\n  \
         -c/--config, MCP_CONFIG_PATH, ./mcp_servers.json, ~/.mcp_servers.json,\n  \
         ~/.config/mcp/mcp_servers.json\n\n",
    );
    text.push_str(&crate::env_vars::help_section());
    text.push_str(
        "\nExit codes:\n  0 success   1 usage, config or unknown name   2 server or tool error\n  \
         3 spawn, connection or timeout   4 auth   128+N signal N (130 Ctrl-C, 143 SIGTERM)\n",
    );
    let examples: Vec<(&str, &str)> = VERBS
        .iter()
        .filter(|verb| verb.name != "help")
        .flat_map(|verb| verb.examples.first().copied())
        .collect();
    text.push_str(&examples_section(&examples));
    text
}

/// One verb's help: what it does, its usage, flags and examples.
pub fn verb_help(verb: &Verb) -> String {
    let mut text = format!(
        "mcp-cli {}: {}\n\nUsage: {}\n",
        verb.name,
        verb.summary,
        verb.usage()
    );
    if !verb.aliases.is_empty() {
        text.push_str(&format!("Also: {}\n", verb.aliases.join(", ")));
    }
    text.push_str(&format!("\n{}\n\n", verb.about));
    text.push_str(&options(verb.flags()));
    text.push_str(&examples_section(verb.examples));
    text
}

fn options<'a>(flags: impl Iterator<Item = &'a Flag>) -> String {
    let mut text = String::from("Options:\n");
    for flag in flags {
        let only = if flag.verbs.is_empty() {
            String::new()
        } else {
            format!(" ({} only)", flag.verbs.join(", "))
        };
        text.push_str(&format!("  {:<26} {}{only}\n", flag.shown(), flag.help));
    }
    text
}

fn examples_section(examples: &[(&str, &str)]) -> String {
    let mut text = String::from("\nExamples:\n");
    let width = examples
        .iter()
        .map(|(command, _)| command.len())
        .filter(|len| *len <= 48)
        .max()
        .unwrap_or(0);
    for (command, what) in examples {
        if command.len() > width {
            text.push_str(&format!("  # {what}\n  {command}\n"));
        } else {
            text.push_str(&format!("  {command:<width$}  # {what}\n"));
        }
    }
    text
}

/// Where the generated usage reference starts in the README.
pub const README_START: &str =
    "<!-- usage reference: generated from src/cli/spec.rs, checked by `cargo test` -->";
/// Where it ends.
pub const README_END: &str = "<!-- end of usage reference -->";

/// The README's usage reference: the program's help and every verb's.
pub fn readme_reference() -> String {
    let mut text = format!(
        "{README_START}\n\n```text\n$ mcp-cli --help\n{}```\n",
        main_help()
    );
    for verb in VERBS.iter().filter(|verb| verb.name != "help") {
        text.push_str(&format!(
            "\n<details><summary><code>mcp-cli help {}</code></summary>\n\n```text\n{}```\n\n</details>\n",
            verb.name,
            verb_help(verb)
        ));
    }
    text.push_str(&format!("\n{README_END}"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's usage reference is the one the tables make. Run with
    /// `MCP_CLI_BLESS=1` to write it.
    #[test]
    fn readme_usage_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find(README_START)
            .expect("README lacks the usage reference start");
        let end = readme
            .find(README_END)
            .expect("README lacks the usage reference end")
            + README_END.len();
        let current = readme_reference();
        if readme[start..end] == current {
            return;
        }
        if std::env::var_os("MCP_CLI_BLESS").is_some() {
            let updated = format!("{}{current}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "README.md's usage reference is out of date: run `MCP_CLI_BLESS=1 cargo test --lib readme` and commit README.md"
        );
    }

    #[test]
    fn every_verb_and_flag_is_in_the_help() {
        let help = main_help();
        for verb in VERBS {
            assert!(help.contains(&format!(" {}", verb.name)), "{}", verb.name);
            assert!(verb_help(verb).contains(&verb.usage()));
        }
        for flag in FLAGS {
            assert!(help.contains(&flag.shown()), "{}", flag.long);
        }
        for var in crate::env_vars::ALL {
            assert!(help.contains(var.name));
        }
    }
}
