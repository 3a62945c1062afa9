//! Signals, acted on without a thread of their own.
//!
//! A handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT does only
//! async-signal-safe work. The first signal goes down a pipe that the
//! runtime watches and so to the command, which cancels its requests
//! (`notifications/cancelled`), stops its servers and exits 128+N; the
//! handler also sets an alarm for [`FORCE_AFTER`]. A second signal, or the
//! alarm (the command did not wind down: say the main thread is stuck
//! writing to a reader that stopped reading), stops every server from the
//! handler itself and exits at once.
//!
//! Handlers rather than a blocked mask and `sigwait`: a blocked mask is
//! inherited by child processes, which then could not be stopped with
//! SIGTERM, while handlers are reset to the default by `exec`. No thread:
//! starting one on every run cost more than the rest of the signal handling
//! (a clone, contending with the server booting on the other core).

use std::time::Duration;

use tokio::sync::watch;

use crate::client::Supervisor;

/// How long the command gets to wind down after the first signal.
pub const FORCE_AFTER: Duration = Duration::from_secs(3);

/// The exit code for a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// The signal's name, for messages.
pub fn name(exit_code: u8) -> &'static str {
    match i32::from(exit_code) - 128 {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

/// Installs the handlers and returns the receiver of the first signal's exit
/// code, with the function that starts watching for it (called inside the
/// async runtime). A signal that comes before waits in the pipe.
pub fn watch(
    json: bool,
    supervisor: &'static Supervisor,
) -> (watch::Receiver<Option<u8>>, impl FnOnce()) {
    unix::JSON.store(json, std::sync::atomic::Ordering::SeqCst);
    // The handler stops the supervisor's servers before a forced exit.
    unix::SUPERVISOR.store(
        std::ptr::from_ref(supervisor).cast_mut(),
        std::sync::atomic::Ordering::SeqCst,
    );
    let (sender, receiver) = watch::channel(None);
    let read_end = unix::install();
    let start = move || {
        if let Some(read_end) = read_end {
            tokio::spawn(unix::forward_first(read_end, sender));
        }
    };
    (receiver, start)
}

/// The exit code of the first signal received, if one came: for a wait
/// that runs before the async runtime (a config pipe) to end on it.
pub fn received() -> Option<u8> {
    match unix::FIRST.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        signal => Some(exit_code(signal)),
    }
}

/// Resolves once a signal has been received (at once if one has): for a
/// wait that a signal cuts short, where the command's own watch is gone.
pub async fn signalled() {
    while received().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Runs `work` with forced exits held back, so that one cannot come between
/// two steps that must go together (a server's start and its registration);
/// a forced exit asked for meanwhile happens right after. (Not a blocked
/// signal mask: a child would inherit it.)
pub fn deferred<T>(work: impl FnOnce() -> T) -> T {
    unix::hold(true);
    let result = work();
    unix::hold(false);
    result
}

/// Runs `work` with the handled signals blocked in this thread: a thread
/// started meanwhile inherits the blocked mask and never takes them. Held
/// signals arrive right after. Not for starting servers, which would
/// inherit it too (see [`deferred`]).
pub fn blocked<T>(work: impl FnOnce() -> T) -> T {
    let previous = unix::block();
    let result = work();
    unix::restore(&previous);
    result
}

mod unix {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    use tokio::sync::watch;

    use super::{FORCE_AFTER, exit_code};
    use crate::client::Supervisor;

    /// The signals handled: those that ask a command to stop, and the alarm.
    const SIGNALS: [i32; 5] = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGALRM,
    ];

    /// The pipe's write end, for the handler.
    static WRITE_END: AtomicI32 = AtomicI32::new(-1);
    /// The first signal received (0: none yet).
    pub(super) static FIRST: AtomicI32 = AtomicI32::new(0);
    /// Set while forced exits are held back.
    static HOLD: AtomicBool = AtomicBool::new(false);
    /// A forced exit held back: its signal (0: none).
    static HELD: AtomicI32 = AtomicI32::new(0);
    /// Errors are reported as JSON (`--json`).
    pub(super) static JSON: AtomicBool = AtomicBool::new(false);
    /// The command's supervisor, whose servers a forced exit stops (null
    /// until [`super::watch`]).
    pub(super) static SUPERVISOR: AtomicPtr<Supervisor> = AtomicPtr::new(std::ptr::null_mut());

    /// The handler. Only async-signal-safe calls: write, alarm, and on a
    /// forced exit kill, waitpid, nanosleep and _exit.
    extern "C" fn on_signal(signal: libc::c_int) {
        // SAFETY: errno is read and restored around the calls below.
        let errno = unsafe { *errno_location() };
        if signal == libc::SIGALRM {
            let first = FIRST.load(Ordering::SeqCst);
            if first != 0 {
                force_exit(first);
            }
        } else if FIRST
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let byte = signal as u8;
            // SAFETY: write(2) and alarm(2) are async-signal-safe; `byte`
            // lives on this stack.
            unsafe {
                libc::write(
                    WRITE_END.load(Ordering::SeqCst),
                    (&byte as *const u8).cast(),
                    1,
                );
                libc::alarm(FORCE_AFTER.as_secs() as libc::c_uint);
            }
        } else {
            force_exit(signal);
        }
        // SAFETY: restores the errno read above.
        unsafe { *errno_location() = errno };
    }

    /// This thread's errno.
    ///
    /// # Safety
    /// The pointer is valid for this thread only.
    unsafe fn errno_location() -> *mut libc::c_int {
        // SAFETY: per the function's contract.
        unsafe {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            return libc::__errno_location();
            #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
            return libc::__error();
        }
    }

    /// A pipe whose ends are close-on-exec and non-blocking.
    fn pipe() -> Option<[libc::c_int; 2]> {
        let mut fds = [0; 2];
        #[cfg(target_os = "linux")]
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return None;
        }
        #[cfg(not(target_os = "linux"))]
        // SAFETY: `fds` has room for the two descriptors pipe writes; fcntl
        // only sets flags on them. No thread can exec in between yet: this
        // runs before any server starts.
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return None;
            }
            for fd in fds {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
            }
        }
        Some(fds)
    }

    /// Stops every server and exits, unless held back (see [`super::deferred`]).
    fn force_exit(signal: i32) {
        if HOLD.load(Ordering::SeqCst) {
            HELD.store(signal, Ordering::SeqCst);
            return;
        }
        // SAFETY: set once from a `&'static Supervisor` by `watch`, never
        // freed; null until then.
        if let Some(supervisor) = unsafe { SUPERVISOR.load(Ordering::SeqCst).as_ref() } {
            supervisor.stop_all(std::time::Duration::from_millis(100));
        }
        report(exit_code(signal));
        // SAFETY: _exit(2) is async-signal-safe and ends the process.
        unsafe { libc::_exit(i32::from(exit_code(signal))) }
    }

    /// Says on stderr why the process stops, as the printer would, with
    /// poll(2) and one write(2): no allocation, no lock, and no wait. A
    /// forced exit is often for want of a reader; when stderr shares that
    /// pipe, the message is left out rather than block the exit.
    fn report(code: u8) {
        let digits = [b'0' + code / 100, b'0' + code / 10 % 10, b'0' + code % 10];
        let name = super::name(code).as_bytes();
        let what = b"; stopped at once, servers killed";
        let pieces: [&[u8]; 6] = if JSON.load(Ordering::SeqCst) {
            [
                b"{\"error\":\"INTERRUPTED\",\"message\":\"interrupted by ",
                name,
                what,
                b"\",\"exitCode\":",
                &digits,
                b"}\n",
            ]
        } else {
            [
                b"Error [INTERRUPTED]: interrupted by ",
                name,
                what,
                b"\n",
                b"",
                b"",
            ]
        };
        let mut message = [0u8; 160];
        let mut length = 0;
        for piece in pieces {
            message[length..length + piece.len()].copy_from_slice(piece);
            length += piece.len();
        }
        let mut stderr = libc::pollfd {
            fd: 2,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll(2) and write(2) are async-signal-safe; `stderr` and
        // `message` live on this stack. Room for a write of at most PIPE_BUF
        // bytes, which this is, means the write does not block.
        unsafe {
            if libc::poll(&mut stderr, 1, 0) == 1 && stderr.revents & libc::POLLOUT != 0 {
                libc::write(2, message.as_ptr().cast(), length);
            }
        }
    }

    /// Creates the pipe and installs the handlers; `None` if that fails (the
    /// default actions then stay).
    pub(super) fn install() -> Option<OwnedFd> {
        let [read_end, write_end] = pipe()?;
        WRITE_END.store(write_end, Ordering::SeqCst);
        for signal in SIGNALS {
            // SAFETY: a zeroed sigaction with a valid handler is a valid
            // argument. The mask holds every handled signal, so handlers never
            // nest; SA_RESTART keeps interrupted system calls going.
            unsafe {
                // A signal ignored when mcp-cli started (`nohup mcp-cli`
                // ignores SIGHUP) stays ignored, for it and its servers.
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut current);
                if current.sa_sigaction == libc::SIG_IGN && signal != libc::SIGALRM {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                fill(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
        // SAFETY: `read_end` was just created and is owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(read_end) })
    }

    /// Hands the first signal from the pipe to the command.
    pub(super) async fn forward_first(read_end: OwnedFd, sender: watch::Sender<Option<u8>>) {
        // SAFETY: the `OwnedFd` keeps the descriptor open, unchanged, for as
        // long as the `AsyncFd` owns it.
        let Ok(pipe) = (unsafe { AsyncFd::register_with_interest(read_end, Interest::READABLE) })
        else {
            return;
        };
        loop {
            let Ok(mut ready) = pipe.readable().await else {
                return;
            };
            let mut byte = 0u8;
            // SAFETY: reads at most one byte into `byte`.
            let read = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(pipe.get_ref()),
                    (&mut byte as *mut u8).cast(),
                    1,
                )
            };
            if read == 1 {
                let _ = sender.send(Some(exit_code(i32::from(byte))));
                return;
            }
            ready.clear_ready();
        }
    }

    fn fill(set: &mut libc::sigset_t) {
        // SAFETY: `set` is a valid sigset_t.
        unsafe {
            libc::sigemptyset(set);
            for signal in SIGNALS {
                libc::sigaddset(set, signal);
            }
        }
    }

    /// Holds forced exits back, or lets them go (and acts on one held).
    pub(super) fn hold(on: bool) {
        HOLD.store(on, Ordering::SeqCst);
        if !on {
            let held = HELD.swap(0, Ordering::SeqCst);
            if held != 0 {
                force_exit(held);
            }
        }
    }

    /// Blocks the handled signals in this thread; returns the mask before.
    pub(super) fn block() -> libc::sigset_t {
        // SAFETY: both sets are valid sigset_t values.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            fill(&mut set);
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            previous
        }
    }

    /// Puts back a mask [`block`] returned.
    pub(super) fn restore(previous: &libc::sigset_t) {
        // SAFETY: `previous` is a valid sigset_t.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut());
        }
    }
}
