//! Links GCC's unwinder statically on Linux with glibc.
//!
//! Rust's standard library asks for `libgcc_s.so.1` there, for unwinding
//! and backtraces. Loading it costs every run of mcp-cli about 0.1 ms of a
//! 2.5 ms cold call: one more library for the dynamic loader to map and
//! relocate, and a constructor that queries the CPU (each CPUID traps to the
//! hypervisor on a virtual machine). The same code, from `libgcc_eh.a`,
//! linked ahead of the `-lgcc_s` that std adds, makes that library unneeded
//! (the linker runs with `--as-needed`), so it is not loaded at all.
//!
//! When the C compiler that links cannot find `libgcc_eh.a` (clang without
//! GCC's runtime, say), nothing changes: std's `libgcc_s` is used as before.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let target = |name: &str| std::env::var(name).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // The linker is the C compiler driver: `cc` unless configured.
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let Ok(output) = Command::new(&linker)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    // The driver prints the bare name back when it has no such file.
    let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && Path::new(&found).is_absolute() && Path::new(&found).is_file() {
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}
