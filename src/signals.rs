//! Signals, seen by a thread of their own.
//!
//! A minimal handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT writes the
//! signal's number to a pipe, and a dedicated thread reads it, so a signal
//! is acted on even while the main thread is stuck (a stdout write to a
//! reader that stopped reading). The first signal is handed to the command,
//! which cancels its requests (`notifications/cancelled`) and stops its
//! servers; a second signal, or a command that has not finished
//! [`FORCE_AFTER`] later, stops every server and exits at once.
//!
//! Handlers rather than a blocked mask and `sigwait`: a blocked mask is
//! inherited by child processes, which then could not be stopped with
//! SIGTERM, while handlers are reset to the default by `exec`.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::client;

/// How long the command gets to wind down after the first signal.
pub const FORCE_AFTER: Duration = Duration::from_secs(3);

/// The exit code for a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// The signal's name, for messages.
pub fn name(exit_code: u8) -> &'static str {
    match i32::from(exit_code) - 128 {
        #[cfg(unix)]
        libc::SIGINT => "SIGINT",
        #[cfg(unix)]
        libc::SIGTERM => "SIGTERM",
        #[cfg(unix)]
        libc::SIGHUP => "SIGHUP",
        #[cfg(unix)]
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

/// Installs the handlers and returns the receiver of the first signal's exit
/// code, with the function that starts the thread reading them. Signals that
/// come before the thread starts wait in the pipe, so starting it can be left
/// until the main thread has nothing better to do (a server booting).
pub fn watch() -> (watch::Receiver<Option<u8>>, impl FnOnce()) {
    let (sender, receiver) = watch::channel(None);
    #[cfg(unix)]
    let read_end = unix::install();
    let start = move || {
        #[cfg(unix)]
        if let Some(read_end) = read_end {
            std::thread::Builder::new()
                .name("signals".to_owned())
                .spawn(move || unix::serve(read_end, &sender))
                .expect("start the signal thread");
        }
        #[cfg(not(unix))]
        drop(sender);
    };
    (receiver, start)
}

#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;

    const SIGNALS: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    /// The pipe's write end, for the handler.
    static WRITE_END: AtomicI32 = AtomicI32::new(-1);

    /// Writes the signal number to the pipe: async-signal-safe, errno kept.
    extern "C" fn on_signal(signal: libc::c_int) {
        let fd = WRITE_END.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = signal as u8;
            // SAFETY: errno is saved and restored around write(2), the only
            // call, which is async-signal-safe; `byte` lives on this stack.
            unsafe {
                let errno = *libc::__errno_location();
                libc::write(fd, (&byte as *const u8).cast(), 1);
                *libc::__errno_location() = errno;
            }
        }
    }

    /// Creates the pipe and installs the handlers; `None` if that fails (the
    /// default actions then stay).
    pub(super) fn install() -> Option<i32> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return None;
        }
        let [read_end, write_end] = fds;
        // The reading end blocks; only the handler's end must never block.
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(read_end, libc::F_GETFL);
            libc::fcntl(read_end, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        WRITE_END.store(write_end, Ordering::Relaxed);
        for signal in SIGNALS {
            // SAFETY: a zeroed sigaction with a valid handler and an empty
            // mask is a valid argument; SA_RESTART keeps interrupted system
            // calls of the main thread going.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
        Some(read_end)
    }

    /// Reads signals: the first goes to the command; the second, or
    /// [`FORCE_AFTER`] without an exit, ends the process.
    pub(super) fn serve(read_end: i32, sender: &watch::Sender<Option<u8>>) {
        let Some(first) = next_signal(read_end, None) else {
            return;
        };
        let code = exit_code(first);
        let _ = sender.send(Some(code));
        let second = next_signal(read_end, Some(Instant::now() + FORCE_AFTER));
        client::stop_all(Duration::from_millis(100));
        std::process::exit(i32::from(second.map_or(code, exit_code)));
    }

    /// The next signal from the pipe, or `None` when `deadline` passes.
    fn next_signal(read_end: i32, deadline: Option<Instant>) -> Option<i32> {
        loop {
            let timeout = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX)
                }
                None => -1,
            };
            let mut poll = libc::pollfd {
                fd: read_end,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
            if ready <= 0 {
                // 0: the deadline passed (checked above); -1: EINTR (a stop
                // and continue), so wait for the time that is left.
                continue;
            }
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`.
            if unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) } == 1 {
                return Some(i32::from(byte));
            }
        }
    }
}
