//! Signals, on a thread of their own.
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked in every thread and taken
//! with `sigwait` on a dedicated one, so they are seen even while the main
//! thread is stuck (a stdout write to a reader that stopped reading). The
//! first signal is handed to the command, which cancels its requests
//! (`notifications/cancelled`) and stops its servers; a second signal, or a
//! command that has not finished [`FORCE_AFTER`] later, stops every server
//! and exits at once. Child processes start with an empty signal mask (the
//! standard library resets it).

use std::time::Duration;

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

/// Starts the signal thread; the receiver yields the exit code of the first
/// signal. Call it before any other thread is started.
pub fn watch() -> watch::Receiver<Option<u8>> {
    let (sender, receiver) = watch::channel(None);
    #[cfg(unix)]
    {
        let set = blocked_set();
        std::thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || wait_for_signals(&set, &sender))
            .expect("start the signal thread");
    }
    #[cfg(not(unix))]
    drop(sender);
    receiver
}

#[cfg(unix)]
fn blocked_set() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use, and
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

#[cfg(unix)]
fn wait_for_signals(set: &libc::sigset_t, sender: &watch::Sender<Option<u8>>) {
    let mut signal = 0;
    // SAFETY: `set` is a valid, initialised signal set.
    if unsafe { libc::sigwait(set, &mut signal) } != 0 {
        return;
    }
    let code = exit_code(signal);
    let _ = sender.send(Some(code));
    // A second signal, or a command that does not wind down in time.
    let timeout = libc::timespec {
        tv_sec: FORCE_AFTER.as_secs() as libc::time_t,
        tv_nsec: 0,
    };
    // SAFETY: valid set and timespec; a null siginfo pointer is allowed.
    let second = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    let code = if second > 0 { exit_code(second) } else { code };
    client::stop_all(Duration::from_millis(100));
    std::process::exit(i32::from(code));
}
