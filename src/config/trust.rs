//! Consent for config files that are not the user's own.
//!
//! A config file is code: it names commands that mcp-cli runs. A file found
//! in the current folder (a cloned repository's `mcp_servers.json`) is used
//! only once the user has trusted it with `mcp-cli trust`, which records its
//! canonical path and the SHA-256 of its content in the user's state
//! directory; a changed file must be trusted again. `-c` and
//! `MCP_CONFIG_PATH` name a file explicitly, which is consent.
//!
//! Every config file, trusted or not, is refused when someone other than
//! the user (or root) owns it or others may write it, as OpenSSH treats its
//! config files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::env_vars;
use crate::error::McpError;

/// What the trust store says of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Trust {
    /// Trusted with this content.
    Trusted,
    /// Never trusted.
    Unknown,
    /// Trusted once, with other content.
    Changed,
}

/// The SHA-256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The largest config file read.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// What a file is trusted as: the place it is used from, its directory
/// made canonical but not the file itself. A symlink to a trusted file, in
/// another folder, is another place: relative commands and `cwd` run from
/// where the config is used, so what it runs there is not what was judged.
pub fn key(path: &Path) -> std::io::Result<PathBuf> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    Ok(std::fs::canonicalize(parent)?.join(name))
}

/// Reads a config file, refusing one that others could have written. A
/// pipe (`-c <(...)`, a FIFO) is read until `deadline`, not forever.
pub fn read(path: &Path, deadline: Instant) -> Result<String, McpError> {
    let read_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::Interrupted
            && let Some(signal) = crate::signals::received()
        {
            McpError::Interrupted { signal }
        } else if source.kind() == std::io::ErrorKind::NotFound {
            McpError::ConfigNotFound {
                explicit: Some(path.to_owned()),
                searched: Vec::new(),
            }
        } else {
            McpError::ConfigRead {
                path: path.to_owned(),
                source,
            }
        }
    };
    // A pipe or FIFO is not opened here: opening one waits for a writer.
    let found = std::fs::metadata(path).map_err(read_error)?;
    let bytes = if found.is_file() {
        let file = std::fs::File::open(path).map_err(read_error)?;
        check_owner_and_mode(path, &file.metadata().map_err(read_error)?)?;
        check_folder(path)?;
        // Bounded: `-c /dev/zero` must not read until memory runs out.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&file, MAX_CONFIG_BYTES + 1),
            &mut bytes,
        )
        .map_err(read_error)?;
        bytes
    } else {
        check_owner_and_mode(path, &found)?;
        check_folder(path)?;
        read_pipe(path, deadline).map_err(read_error)?
    };
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(McpError::ConfigRead {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "it is larger than {} MiB, more than any config needs",
                MAX_CONFIG_BYTES >> 20
            )),
        });
    }
    String::from_utf8(bytes).map_err(|error| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 (an invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// Reads a pipe, a FIFO or a device to its end (up to one byte past
/// [`MAX_CONFIG_BYTES`]), no later than `deadline`. On a thread: opening a
/// FIFO waits for a writer, and reading waits for it to close; a thread
/// still waiting at the deadline is left to the process's exit.
fn read_pipe(path: &Path, deadline: Instant) -> std::io::Result<Vec<u8>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned = path.to_owned();
    std::thread::spawn(move || {
        let read = std::fs::File::open(&owned).and_then(|file| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
                &mut bytes,
            )
            .map(|_| bytes)
        });
        let _ = sender.send(read);
    });
    // In slices, so that a signal (Ctrl-C) ends the wait at once.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left.min(std::time::Duration::from_millis(20))) {
            Ok(read) => return read,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("the thread reading it failed"));
            }
            Err(_) if left.is_zero() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "it is a pipe that did not end within MCP_TIMEOUT: is anything writing to it?",
                ));
            }
            Err(_) if crate::signals::received().is_some() => {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            Err(_) => {}
        }
    }
}

/// Refuses a file owned by another user (root excepted), or writable by its
/// group or by others.
fn check_owner_and_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), McpError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    // A FIFO others may write could hand in a config of theirs (devices are
    // root's).
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let reason = if metadata.uid() != me && metadata.uid() != 0 {
        Some(format!(
            "it is owned by user id {}, not by you or root",
            metadata.uid()
        ))
    } else if metadata.is_file() && metadata.mode() & 0o022 != 0
        // macOS gives the shell's own pipes (`-c <(...)`) mode 660.
        || metadata.file_type().is_fifo() && metadata.mode() & 0o002 != 0
    {
        Some(format!(
            "others may write it (mode {:o})",
            metadata.mode() & 0o7777
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(McpError::ConfigInsecure {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Refuses a file in a folder anyone may write to without the sticky bit:
/// anyone could put another file in its place.
fn check_folder(path: &Path) -> Result<(), McpError> {
    use std::os::unix::fs::MetadataExt;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(metadata) = std::fs::metadata(folder)
        && metadata.mode() & 0o002 != 0
        && metadata.mode() & 0o1000 == 0
    {
        return Err(McpError::ConfigInsecure {
            path: path.to_owned(),
            reason: format!(
                "anyone may replace it: its folder `{}` is writable by all (mode {:o})",
                folder.display(),
                metadata.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

/// Whether `path` is the user's and nobody else may write it.
fn private(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.uid() == me && metadata.mode() & 0o022 == 0)
}

/// Where the trusted files are recorded: `$XDG_STATE_HOME/mcp-cli`, else
/// `~/.local/state/mcp-cli`.
pub(crate) fn state_dir() -> Option<PathBuf> {
    let base = env_vars::get(env_vars::XDG_STATE_HOME)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            env_vars::get(env_vars::HOME).map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(base.join("mcp-cli"))
}

fn store_path() -> Option<PathBuf> {
    state_dir().map(|dir| dir.join("trusted.json"))
}

/// The recorded files: canonical path → `{"sha256": ..., "trustedAt": ...}`.
/// A store that someone else could have written trusts nothing.
fn load_store() -> Map<String, Value> {
    let (Some(dir), Some(store)) = (state_dir(), store_path()) else {
        return Map::new();
    };
    if !private(&dir) || !private(&store) {
        return Map::new();
    }
    Some(store)
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|value| value.get("trusted").and_then(Value::as_object).cloned())
        .unwrap_or_default()
}

/// Whether the file at `canonical` is trusted with content `sha256`.
pub fn check(canonical: &Path, sha256: &str) -> Trust {
    match load_store()
        .get(&canonical.to_string_lossy().into_owned())
        .and_then(|entry| entry.get("sha256"))
        .and_then(Value::as_str)
    {
        Some(recorded) if recorded == sha256 => Trust::Trusted,
        Some(_) => Trust::Changed,
        None => Trust::Unknown,
    }
}

/// Records the file at `canonical` as trusted with content `sha256`;
/// returns where. The store is written whole to a temporary file and
/// renamed over the old one (0600, in a 0700 directory), under a lock, so
/// that concurrent `trust` commands lose nothing and a crash leaves the old
/// store or the new one.
pub fn record(canonical: &Path, sha256: &str) -> Result<PathBuf, McpError> {
    let (Some(dir), Some(store)) = (state_dir(), store_path()) else {
        return Err(McpError::usage(
            "cannot tell where to record trusted configs: set HOME or XDG_STATE_HOME",
        ));
    };
    let failed = |source: std::io::Error| McpError::StateWrite {
        path: store.clone(),
        source,
    };
    create_private_dir(&dir).map_err(failed)?;
    let _lock = lock(&dir.join("trusted.lock")).map_err(failed)?;
    let mut trusted = load_store();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    trusted.insert(
        canonical.to_string_lossy().into_owned(),
        json!({"sha256": sha256, "trustedAt": now}),
    );
    let text = serde_json::to_string_pretty(&json!({"version": 1, "trusted": trusted}))
        .unwrap_or_default();
    let temporary = dir.join(format!("trusted.json.{}", std::process::id()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, &store)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(failed)?;
    Ok(store)
}

/// Creates `dir` (and its parents) with mode 0700, and refuses one that
/// others may enter or that someone else owns.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    builder.mode(0o700);
    builder.create(dir)?;
    let metadata = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if metadata.uid() != unsafe { libc::geteuid() } {
        return Err(std::io::Error::other(format!(
            "`{}` belongs to someone else",
            dir.display()
        )));
    }
    if metadata.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// An exclusive lock on `path`, held until the file is dropped.
fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor; flock blocks until the lock is ours.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
