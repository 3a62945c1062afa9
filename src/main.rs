//! The `mcp-cli` binary: everything lives in the library.
//!
//! `#![no_main]`: the C runtime calls [`main`] directly. Rust's usual entry
//! wrapper first sets up what a CLI that exits in milliseconds does not use
//! (the main thread's stack guard, found by reading `/proc/self/maps`, an
//! alternate signal stack and SIGSEGV/SIGBUS handlers to name a stack
//! overflow): that cost about 0.14 ms of a 2.2 ms cold call. What it does
//! that matters is done here: closed standard streams are reopened, SIGPIPE
//! is ignored, and the arguments are read from `argv` (`std::env::args` is
//! empty without the wrapper, except on glibc).

#![no_main]

/// The process's entry point.
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    startup::run();
    // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings.
    let args = unsafe { startup::arguments(argc, argv) };
    std::ffi::c_int::from(mcp_cli::main(args))
}

mod startup {
    use std::ffi::{CStr, OsString, c_char, c_int};
    use std::os::unix::ffi::OsStrExt;

    /// The arguments after the program's name.
    ///
    /// # Safety
    /// `argv` holds `argc` valid, NUL-terminated strings.
    pub unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
        (1..usize::try_from(argc).unwrap_or(0))
            .map(|index| {
                // SAFETY: index < argc, per the contract.
                let arg = unsafe { CStr::from_ptr(*argv.add(index)) };
                std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned()
            })
            .collect()
    }

    /// What Rust's entry wrapper would have done, and mcp-cli needs.
    pub fn run() {
        open_closed_standard_streams();
        ignore_sigpipe();
    }

    /// A closed stdin, stdout or stderr is opened on /dev/null, so that no
    /// pipe to a server can take its number (and be read as the arguments).
    fn open_closed_standard_streams() {
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        // SAFETY: three valid pollfds; a zero timeout only checks them.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
            return;
        }
        for pollfd in fds {
            if pollfd.revents & libc::POLLNVAL != 0 {
                // SAFETY: open(2) on a constant path; the lowest free number,
                // the closed stream's, is taken.
                unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            }
        }
    }

    /// A reader that went away makes writes fail with EPIPE (reported
    /// quietly) instead of killing the process, as in any Rust program.
    /// `std::process::Command` puts it back to the default in the servers.
    fn ignore_sigpipe() {
        // SAFETY: sets one signal's disposition, before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
}
