//! Where OAuth tokens are kept: one file per server URL in the state
//! directory's `oauth/` (0700), each 0600, replaced whole (a temporary file
//! renamed over it) so that a crash leaves the old tokens or the new ones;
//! refreshes are serialized across processes (and the daemon) by a lock
//! file beside it. A directory or file that others may read is refused, not
//! repaired: someone may have read it already.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::transport::auth::{
    AuthError, AuthorizationMetadata, CredentialRefreshGuard, CredentialStore, StoredCredentials,
};
use serde::{Deserialize, Serialize};

/// How long a refresh waits for another process's refresh to end.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What is kept for one server URL.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    /// The URL as shown (secrets masked), for `auth --status`.
    pub shown: String,
    /// The server's name when it was logged in to.
    pub server: String,
    /// The client's secret, when the authorization server issued one
    /// (rmcp keeps only its ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The redirect URI the client was registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The authorization server's metadata, found at login: refreshing
    /// needs no discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<AuthorizationMetadata>,
    /// The tokens (rmcp's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StoredCredentials>,
    /// Tokens from the client credentials grant (obtained again, not
    /// refreshed).
    #[serde(default)]
    pub client_credentials: bool,
    /// A scope the server asked for that the token lacks (a 403
    /// `insufficient_scope`): the next login asks for it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<String>,
    /// The scope the last login asked for as a step-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    /// Logins in a row for that missing scope: past a few, the server will
    /// not grant it and logging in again will not help.
    #[serde(default)]
    pub step_ups: u32,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("shown", &self.shown)
            .field("server", &self.server)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// The token file of one server URL.
#[derive(Clone, Debug)]
pub(crate) struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The file for `url` in `dir`.
    pub fn new(dir: &Path, url: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(url.as_bytes());
        let name: String = digest[..12]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        FileStore {
            path: dir.join(format!("{name}.json")),
        }
    }

    /// The token file at `path`.
    pub fn at(path: &Path) -> Self {
        FileStore {
            path: path.to_owned(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// What is kept, if anything; an error when the file or its directory
    /// is open to others or someone else's, or does not parse.
    pub fn read(&self) -> Result<Option<Record>, String> {
        // A link would make another file the tokens': refused, as is any
        // file that is not a plain one.
        match std::fs::symlink_metadata(&self.path) {
            Ok(metadata) if !metadata.file_type().is_file() => {
                return Err(format!(
                    "`{}` is not a plain file (a link?): tokens are kept only in files mcp-cli wrote",
                    self.path.display()
                ));
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot read `{}`: {error}", self.path.display())),
        }
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot read `{}`: {error}", self.path.display())),
        };
        private(self.dir(), 0o700)?;
        let metadata = file
            .metadata()
            .map_err(|error| format!("cannot read `{}`: {error}", self.path.display()))?;
        check(&self.path, &metadata, 0o600)?;
        let text = std::io::read_to_string(file)
            .map_err(|error| format!("cannot read `{}`: {error}", self.path.display()))?;
        serde_json::from_str(&text).map(Some).map_err(|error| {
            format!(
                "`{}` is not a token file mcp-cli wrote ({error}); remove it and log in again",
                self.path.display()
            )
        })
    }

    /// Replaces the file with `record`, atomically.
    pub fn write(&self, record: &Record) -> Result<(), String> {
        let failed =
            |error: std::io::Error| format!("cannot write `{}`: {error}", self.path.display());
        create_private_dir(self.dir())?;
        let text = serde_json::to_vec_pretty(record).map_err(|error| failed(error.into()))?;
        let temporary =
            self.path
                .with_extension(format!("json.{}.{}", std::process::id(), fastrand::u32(..)));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(failed)
    }

    /// Reads, changes and writes the record (a new one when none is kept).
    pub fn update(&self, change: impl FnOnce(&mut Record)) -> Result<(), String> {
        let mut record = self.read()?.unwrap_or_default();
        change(&mut record);
        self.write(&record)
    }

    /// Forgets everything kept for the URL.
    pub fn remove(&self) -> Result<bool, String> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(format!("cannot remove `{}`: {error}", self.path.display())),
        }
    }

    /// The lock refreshes take: the file's name with `.lock`.
    pub(crate) async fn lock(&self) -> Result<std::fs::File, String> {
        create_private_dir(self.dir())?;
        let path = self.path.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| format!("cannot open `{}`: {error}", path.display()))?;
        let started = std::time::Instant::now();
        loop {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid descriptor; LOCK_NB never blocks.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(file);
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::WouldBlock {
                return Err(format!("cannot lock `{}`: {error}", path.display()));
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(format!(
                    "another mcp-cli has held `{}` for {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn store_error(message: String) -> AuthError {
    AuthError::CredentialStoreError(message)
}

#[async_trait::async_trait]
impl CredentialStore for FileStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        Ok(self
            .read()
            .map_err(store_error)?
            .and_then(|record| record.credentials))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.update(|record| record.credentials = Some(credentials))
            .map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.update(|record| record.credentials = None)
            .map_err(store_error)
    }

    /// A refresh token the server refused is forgotten (the user must log
    /// in again), unless another process has replaced it meanwhile.
    async fn on_refresh_token_rejected(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<(), AuthError> {
        let refresh = |stored: &StoredCredentials| {
            stored.token_response.as_ref().and_then(|token| {
                oauth2::TokenResponse::refresh_token(token).map(|t| t.secret().clone())
            })
        };
        let rejected = refresh(credentials);
        self.update(|record| {
            if record.credentials.as_ref().map(refresh) == Some(rejected) {
                record.credentials = None;
            }
        })
        .map_err(store_error)
    }

    async fn acquire_refresh_guard(&self) -> Result<Option<CredentialRefreshGuard>, AuthError> {
        let file = self.lock().await.map_err(store_error)?;
        Ok(Some(CredentialRefreshGuard::new(file)))
    }
}

/// Creates `dir` 0700 (its parents too), and refuses one open to others.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| format!("cannot create `{}`: {error}", dir.display()))?;
    private(dir, 0o700)
}

/// Refuses `path` unless it is the user's and gives nothing to others.
fn private(path: &Path, mode: u32) -> Result<(), String> {
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    check(path, &metadata, mode)
}

fn check(path: &Path, metadata: &std::fs::Metadata, mode: u32) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Err(format!(
            "`{}` belongs to someone else (uid {}); tokens are kept only in files of your own",
            path.display(),
            metadata.uid()
        ));
    }
    if metadata.file_type().is_symlink() {
        return Err(format!("`{}` is a symbolic link", path.display()));
    }
    let actual = metadata.mode() & 0o777;
    if actual & 0o077 != 0 {
        return Err(format!(
            "`{}` is open to others (mode {actual:o}); run `chmod {mode:o} {}` if nobody else could have read it, else log out on the server's side and log in again",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("oauth");
        let store = FileStore::new(&tokens, "https://example.com/mcp");
        assert!(store.read().unwrap().is_none());
        store
            .update(|record| record.server = "example".to_owned())
            .unwrap();
        assert_eq!(store.read().unwrap().unwrap().server, "example");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().mode() & 0o777;
        assert_eq!(mode(&tokens), 0o700);
        assert_eq!(mode(store.path()), 0o600);
        // Open to others: refused, not repaired.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(store.read().unwrap_err().contains("open to others"));
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(store.read().unwrap_err().contains("open to others"));
        assert!(store.write(&Record::default()).is_err());
        std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(store.remove().unwrap());
        assert!(!store.remove().unwrap());
    }

    #[test]
    fn each_url_has_its_file() {
        let dir = Path::new("/x");
        assert_ne!(
            FileStore::new(dir, "https://a/mcp").path(),
            FileStore::new(dir, "https://a/mcp2").path()
        );
    }
}
