//! A session's link to its server: what carries the messages, and what
//! explains a failure.
//!
//! The session above asks any link the same questions: what did the far
//! end say lately, is it gone, did it overflow, what explains a failure,
//! and stop it. A child process over its stdin and stdout is explained by
//! its exit status and the lines it wrote; a remote server by an HTTP
//! status, headers and the first bytes of a body; a server the daemon
//! holds by what the daemon relays of it (its stderr, how it ended).
//! Nothing above `client` knows which it is.

use std::time::Duration;

use super::process::{self, Activity, ServerProcess, StderrTail};

/// What a session's messages travel through.
pub(super) enum Link {
    /// A child process, over its stdin and stdout.
    Child(Child),
    /// A remote endpoint, over HTTP.
    Remote(Remote),
    /// A server the daemon holds, over its socket.
    Daemon(super::daemon::Relayed),
}

/// A server reached over HTTP.
pub(super) struct Remote {
    server: String,
    /// The URL as written, secrets masked.
    shown: String,
}

/// A server run as a child process.
pub(super) struct Child {
    /// Taken when the session closes.
    process: tokio::sync::Mutex<Option<ServerProcess>>,
    stderr: StderrTail,
    activity: Activity,
    pid: u32,
}

/// What explains a failure of the link.
pub(super) struct Explanation {
    /// The last lines the far end wrote (stderr, and stdout that is not
    /// JSON-RPC), with the first ones.
    pub lines: Vec<String>,
    /// How the far end ended, when it did (`exit code 1`, `killed by
    /// SIGSEGV`).
    pub ended: Option<String>,
    /// Whether it wrote what is not JSON-RPC where messages go.
    pub wrote_garbage: bool,
}

/// How long answers written by a server just before it exited are still
/// waited for, when its stdout stays open (a process it started holds it).
pub(super) const EXIT_GRACE: Duration = Duration::from_millis(500);

impl Link {
    /// The link over a child process and what its stdout showed.
    pub(super) fn child(process: ServerProcess, activity: Activity) -> Self {
        Link::Child(Child {
            stderr: process.stderr_tail(),
            pid: process.id(),
            process: tokio::sync::Mutex::new(Some(process)),
            activity,
        })
    }

    /// The link to a remote server.
    pub(super) fn remote(server: &str, shown: &str) -> Self {
        Link::Remote(Remote {
            server: server.to_owned(),
            shown: shown.to_owned(),
        })
    }

    /// The lines the far end wrote lately, as they are now.
    pub(super) fn lines(&self) -> Vec<String> {
        match self {
            Link::Child(child) => child.stderr.lines(),
            Link::Remote(_) => Vec::new(),
            Link::Daemon(relayed) => relayed.lines(),
        }
    }

    /// How long closing the connection may take: a child's stdin closes
    /// at once; a remote session is ended with a DELETE, a round trip
    /// (the result is printed already).
    pub(super) fn close_wait(&self) -> Duration {
        match self {
            Link::Child(_) | Link::Daemon(_) => Duration::from_millis(100),
            Link::Remote(_) => Duration::from_secs(1),
        }
    }

    /// Whether a message past the size limit ended the link.
    pub(super) fn overflowed(&self) -> bool {
        match self {
            Link::Child(child) => child.activity.wrote_too_much(),
            Link::Remote(_) => false,
            Link::Daemon(relayed) => relayed.overflowed(),
        }
    }

    /// What a transport error means, when the link can tell (an HTTP
    /// status, a refused connection); `sent` tells whether the request may
    /// have gone out.
    pub(super) fn failure(
        &self,
        method: &str,
        error: &(dyn std::error::Error + 'static),
        sent: bool,
    ) -> Option<crate::error::McpError> {
        match self {
            Link::Child(_) | Link::Daemon(_) => None,
            Link::Remote(remote) => Some(super::http::failure(
                &remote.server,
                &remote.shown,
                method,
                error,
                sent,
            )),
        }
    }

    /// Resolves once the far end wrote something that is not JSON-RPC and
    /// then nothing at all for `quiet`: it will not answer.
    pub(super) async fn stuck(&self, quiet: Duration) {
        match self {
            Link::Child(child) => child.activity.quiet_after_garbage(quiet).await,
            Link::Remote(_) => std::future::pending().await,
            // The daemon watches for it, with the same quiet time.
            Link::Daemon(relayed) => relayed.stuck().await,
        }
    }

    /// Resolves once the far end is gone, and a moment more for what it
    /// wrote just before to be read: a child's exit ends the wait even
    /// while a process it started holds its stdout open (no end of file
    /// would come).
    pub(super) async fn gone(&self) {
        match self {
            Link::Child(child) => {
                while !process::has_exited(child.pid) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(EXIT_GRACE).await;
            }
            // A remote end that goes away fails the request itself.
            Link::Remote(_) => std::future::pending().await,
            // The daemon says so once what the server wrote is relayed.
            Link::Daemon(relayed) => relayed.gone().await,
        }
    }

    /// What explains a failure, once the far end has had a moment to
    /// settle (a process that just exited, its last stderr lines).
    pub(super) async fn explain(&self) -> Explanation {
        match self {
            Link::Child(child) => {
                let (lines, ended) = match child.process.lock().await.as_mut() {
                    Some(process) => process.settle().await,
                    None => (child.stderr.lines(), None),
                };
                Explanation {
                    lines,
                    ended,
                    wrote_garbage: child.activity.wrote_garbage(),
                }
            }
            Link::Remote(_) => Explanation {
                lines: Vec::new(),
                ended: None,
                wrote_garbage: false,
            },
            Link::Daemon(relayed) => {
                let (lines, ended, wrote_garbage) = relayed.explain();
                Explanation {
                    lines,
                    ended,
                    wrote_garbage,
                }
            }
        }
    }

    /// Stops the far end, its messages closed already: time to end by
    /// itself (a server that reads to the end of its stdin also sees a
    /// cancellation sent last), then SIGTERM and SIGKILL (see
    /// [`process::Stop`]).
    pub(super) async fn stop(&self, stop: process::Stop) {
        match self {
            Link::Child(child) => {
                let Some(process) = child.process.lock().await.take() else {
                    return;
                };
                process.shutdown(stop).await;
            }
            // Closing the session ended it (DELETE of the HTTP session);
            // the daemon keeps its server.
            Link::Remote(_) | Link::Daemon(_) => {}
        }
    }
}
