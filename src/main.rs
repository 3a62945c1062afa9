//! The `mcp-cli` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    mcp_cli::main()
}
