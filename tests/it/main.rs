//! Integration tests: the real `mcp-cli` binary against the bundled fault
//! server and real servers from npm and PyPI (installed by
//! `tests/servers/install.sh`; a missing one fails, never skips).

mod support;

mod cli;
mod commands;
mod daemon;
mod dropin;
mod matrix;
mod oauth;
mod processes;
mod real_servers;
mod reliability;
mod remote;
mod security;
mod snapshots;
