//! Where the daemon lives: a directory of the user's own, mode 0700, in
//! `$XDG_RUNTIME_DIR/mcp-cli/`, else `$TMPDIR/mcp-cli-<uid>/` (`/tmp` when
//! `TMPDIR` is unset). A directory someone else owns, or others may enter,
//! is refused: another user could have made it to listen in.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::env_vars;

/// The longest socket path used: macOS allows 104 bytes with the NUL, Linux
/// 108.
const MAX_SOCKET_PATH: usize = 100;

/// The daemon's files.
#[derive(Debug, Clone)]
pub struct Place {
    /// The directory (0700, the user's).
    pub dir: PathBuf,
    /// The socket. Named by version, so that a daemon of another version
    /// never answers.
    pub socket: PathBuf,
}

impl Place {
    /// The place from the environment, the directory made if missing and
    /// checked; the error says why it cannot be used.
    pub fn find() -> Result<Place, String> {
        let runtime = env_vars::get(env_vars::XDG_RUNTIME_DIR)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute());
        let dir = match runtime {
            Some(runtime) => runtime.join("mcp-cli"),
            None => {
                let temp = env_vars::get(env_vars::TMPDIR)
                    .map(PathBuf::from)
                    .filter(|dir| dir.is_absolute())
                    .unwrap_or_else(|| PathBuf::from("/tmp"));
                temp.join(format!("mcp-cli-{}", uid()))
            }
        };
        Place::at(dir)
    }

    /// The place in `dir`, made if missing and checked.
    pub fn at(dir: PathBuf) -> Result<Place, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        match builder.create(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(format!("cannot make `{}`: {error}", dir.display())),
        }
        check(&dir)?;
        let socket = dir.join(format!("daemon-{}.sock", env!("CARGO_PKG_VERSION")));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "the socket path `{}` is longer than {MAX_SOCKET_PATH} bytes",
                socket.display()
            ));
        }
        Ok(Place { dir, socket })
    }

    /// A file of the daemon's, next to its socket.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The user's id.
pub fn uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a directory that is not the user's alone: a symlink, someone
/// else's, or open to others.
fn check(dir: &Path) -> Result<(), String> {
    let metadata = std::fs::symlink_metadata(dir)
        .map_err(|error| format!("cannot read `{}`: {error}", dir.display()))?;
    if !metadata.is_dir() {
        return Err(format!("`{}` is not a directory", dir.display()));
    }
    if metadata.uid() != uid() {
        return Err(format!(
            "`{}` belongs to user {}, not to you (user {}): another user may have made it",
            dir.display(),
            metadata.uid(),
            uid()
        ));
    }
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "`{}` has mode {mode:04o}: others may enter it; it must be 0700 (`chmod 700 {}`)",
            dir.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// An exclusive lock on `path`, tried without waiting.
pub fn try_lock(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    // SAFETY: a valid descriptor; LOCK_NB makes flock return at once.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(file));
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock {
        return Ok(None);
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_directory_open_to_others_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("d");
        let place = Place::at(dir.clone()).unwrap();
        assert_eq!(std::fs::metadata(&place.dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = Place::at(dir.clone()).unwrap_err();
        assert!(error.contains("mode 0755"), "{error}");
        let link = temp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let error = Place::at(link).unwrap_err();
        assert!(error.contains("not a directory"), "{error}");
    }
}
