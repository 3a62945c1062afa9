//! OAuth 2.1 for remote servers, through rmcp's `auth` module: discovery,
//! client registration, PKCE, `state` and `iss` checks, the `resource`
//! parameter, scope selection, token exchange and refresh are rmcp's. What
//! is mcp-cli's: where tokens are kept ([`store`]), a login a person can do
//! from a shell ([`login`]: the loopback redirect, the browser, pasting
//! the redirected URL back), the client credentials grant for machines,
//! and the step-up after a 403 `insufficient_scope`.

mod jwt;
pub(crate) mod store;

pub(crate) use jwt::ALGORITHMS as SIGNING_ALGORITHMS;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::auth::{
    AuthClient, AuthError, AuthorizationManager, AuthorizationMetadata, AuthorizationRequest,
    AuthorizationSession, ClientCredentialsConfig, OAuthClientConfig, OAuthHttpClient,
    OAuthHttpClientFuture, OAuthHttpRequest, WWWAuthenticateParams,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) use store::{FileStore, Record};

use crate::config::OAuth;
use crate::error::McpError;

/// The largest answer read from an authorization server.
const MAX_BODY: usize = 1 << 20;

/// The secrets of the config's `oauth` entries in use, masked in any
/// message an authorization server sends back.
static KNOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Adds `secret` to those masked in messages.
fn remember(secret: &str) {
    if let Ok(mut known) = KNOWN.lock()
        && !known.iter().any(|known| known == secret)
    {
        known.push(secret.to_owned());
    }
}

/// A client's secret, and the HTTP Basic credentials made of it.
fn remember_client(client_id: Option<&str>, secret: &str) {
    use base64::Engine;
    remember(secret);
    if let Some(client_id) = client_id {
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        for pair in [
            format!("{client_id}:{secret}"),
            format!("{}:{}", encode(client_id), encode(secret)),
        ] {
            remember(&base64::engine::general_purpose::STANDARD.encode(pair));
        }
    }
}

/// `text` with every secret known to this process masked, and the values
/// of secret-named pairs: what an authorization or resource server sends
/// back may echo what it was sent.
pub(crate) fn scrub(text: &str) -> String {
    let known = KNOWN.lock().map(|known| known.clone()).unwrap_or_default();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    crate::redact::message(text, &known)
}

/// How many logins in a row may ask for a scope the server keeps asking
/// for: past this, it will not grant it, and another login would not help.
const MAX_STEP_UPS: u32 = 2;

/// Where tokens are kept: `oauth/` in the state directory.
pub(crate) fn dir() -> Option<PathBuf> {
    crate::config::trust::state_dir().map(|dir| dir.join("oauth"))
}

/// rmcp's OAuth requests, sent with the server's own HTTP client (its
/// proxies, certificates, redirect policy and timeouts), answers bounded.
struct Http(reqwest::Client);

impl OAuthHttpClient for Http {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        Box::pin(send(&self.0, request.request, request.timeout))
    }
}

/// Sends an OAuth request with `client`, its answer read whole up to
/// [`MAX_BODY`].
async fn send(
    client: &reqwest::Client,
    request: http::Request<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<http::Response<Vec<u8>>, rmcp::transport::auth::OAuthHttpClientError> {
    let mut request = reqwest::Request::try_from(request)?;
    *request.timeout_mut() = timeout;
    let mut response = client.execute(request).await?;
    let mut answer = http::Response::builder()
        .status(response.status())
        .version(response.version());
    if let Some(headers) = answer.headers_mut() {
        *headers = std::mem::take(response.headers_mut());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!(
                "the authorization server's answer is longer than {} MiB",
                MAX_BODY >> 20
            )
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(answer.body(body)?)
}

/// OAuth for one remote server: its kept tokens, and how to get new ones.
pub(crate) struct Access {
    /// The server's name.
    pub server: String,
    /// Its URL.
    pub url: String,
    /// Its URL as shown.
    pub shown: String,
    /// Its `oauth` settings.
    pub settings: OAuth,
    /// Its token file.
    pub store: FileStore,
    http: reqwest::Client,
    /// rmcp's client for the kept tokens, with what it was built from.
    cached: tokio::sync::Mutex<Option<(Vec<String>, AuthClient<super::http::Paced>)>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("server", &self.server)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// OAuth for the server at `url`, its tokens in `dir`.
    pub fn new(
        server: &str,
        url: &str,
        shown: &str,
        settings: Option<&OAuth>,
        dir: &Path,
        http: reqwest::Client,
    ) -> Self {
        if let Some(settings) = settings {
            if let Some(secret) = &settings.client_secret {
                remember_client(settings.client_id.as_deref(), secret);
            }
            if let Some(key) = &settings.private_key {
                remember(key);
            }
        }
        Access {
            server: server.to_owned(),
            url: url.to_owned(),
            shown: shown.to_owned(),
            settings: settings.cloned().unwrap_or_default(),
            store: FileStore::new(dir, url),
            http,
            cached: tokio::sync::Mutex::default(),
        }
    }

    /// A manager for this server, its tokens in the file store.
    async fn manager(&self) -> Result<AuthorizationManager, AuthError> {
        let mut manager = AuthorizationManager::new_with_oauth_http_client(
            self.url.as_str(),
            Arc::new(Http(self.http.clone())),
        )
        .await?;
        manager.set_credential_store(self.store.clone());
        manager.set_state_store(Remembered::default());
        Ok(manager)
    }

    /// rmcp's client over `plain`, sending the kept token (and refreshing
    /// it) when there is one; `None` when nothing is kept.
    pub async fn client(
        &self,
        plain: &super::http::Paced,
    ) -> Result<Option<AuthClient<super::http::Paced>>, AuthError> {
        let record = self.store.read().map_err(AuthError::CredentialStoreError)?;
        let Some(Record {
            metadata: Some(metadata),
            credentials: Some(credentials),
            client_secret,
            redirect_uri,
            client_credentials,
            ..
        }) = record
        else {
            return Ok(None);
        };
        if let Some(token) = &credentials.token_response {
            remember(oauth2::TokenResponse::access_token(token).secret());
            if let Some(refresh) = oauth2::TokenResponse::refresh_token(token) {
                remember(refresh.secret());
            }
        }
        let key = vec![
            credentials.client_id.clone(),
            client_secret.clone().unwrap_or_default(),
            metadata.token_endpoint.clone(),
            client_credentials.to_string(),
        ];
        let mut cached = self.cached.lock().await;
        if let Some((built, client)) = cached.as_ref()
            && *built == key
        {
            return Ok(Some(client.clone()));
        }
        let mut manager = self.manager().await?;
        manager.set_metadata(metadata);
        // A client credentials token has no refresh token: once expired,
        // the request goes without, and its 401 gets a new one.
        let mut config = OAuthClientConfig::new(
            credentials.client_id.clone(),
            redirect_uri.unwrap_or_else(|| "http://127.0.0.1/callback".to_owned()),
        );
        if let Some(secret) = client_secret.filter(|_| !client_credentials) {
            remember_client(Some(&credentials.client_id), &secret);
            config = config.with_client_secret(secret);
        }
        manager.configure_client(config)?;
        let client = AuthClient::new(plain.clone(), manager);
        *cached = Some((key, client.clone()));
        Ok(Some(client))
    }

    /// The access token kept, refreshed when it is about to expire; `None`
    /// when there is none (for the legacy transport, which sets its own
    /// headers).
    pub async fn token(&self, plain: &super::http::Paced) -> Result<Option<String>, AuthError> {
        match self.client(plain).await? {
            Some(client) => match client.get_access_token().await {
                Ok(token) => Ok(Some(token)),
                Err(AuthError::AuthorizationRequired) => Ok(None),
                Err(error) => Err(error),
            },
            None => Ok(None),
        }
    }

    /// Whether tokens come from the client credentials grant.
    pub fn is_machine(&self) -> bool {
        self.settings.client_credentials
    }

    /// Notes a 403 `insufficient_scope`: the next login asks for the scope
    /// too. The same scope asked for again keeps its count of logins.
    pub async fn note_step_up(&self, challenge: &str) {
        let Ok(base) = url::Url::parse(&self.url) else {
            return;
        };
        let params = WWWAuthenticateParams::parse(challenge, &base);
        let Some(scope) = params.scope.filter(|scope| !scope.trim().is_empty()) else {
            return;
        };
        // Only for a server logged in to: a 403 to a request without a
        // token leaves nothing behind.
        let _lock = self.store.lock().await;
        let noted = match self.store.read() {
            Ok(Some(mut record)) => {
                // Another scope than the last step-up asked for: a new count.
                let scope = same_order(&scope);
                if record.asked.as_deref() != Some(scope.as_str()) {
                    record.step_ups = 0;
                }
                record.step_up = Some(scope);
                self.store.write(&record)
            }
            Ok(None) => Ok(()),
            Err(why) => Err(why),
        };
        if let Err(why) = noted {
            crate::debug!("{}: {why}", self.server);
        }
    }

    /// The client credentials grant's settings, with a client secret.
    fn client_credentials_config(&self) -> Result<ClientCredentialsConfig, AuthError> {
        let settings = &self.settings;
        let (Some(client_id), Some(client_secret)) = (&settings.client_id, &settings.client_secret)
        else {
            return Err(AuthError::ClientCredentialsError(
                "`oauth.clientId` with `oauth.clientSecret` (or `privateKey`) is needed for the client credentials grant".to_owned(),
            ));
        };
        Ok(ClientCredentialsConfig::ClientSecret {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scopes: settings.scopes.clone(),
            resource: Some(self.url.clone()),
        })
    }

    /// Obtains a token with the client credentials grant (no browser),
    /// after the server's `challenge` if there was one. Under the refresh
    /// lock: two processes that both find the token expired ask once.
    pub async fn obtain_client_credentials(
        &self,
        challenge: Option<&str>,
        stale: Option<&str>,
    ) -> Result<(), AuthError> {
        let _lock = self
            .store
            .lock()
            .await
            .map_err(AuthError::CredentialStoreError)?;
        // Another process got one meanwhile: the token kept is live, and
        // not the one the server refused.
        if let Some(record) = self.store.read().map_err(AuthError::CredentialStoreError)?
            && record.client_credentials
            && let Some(credentials) = &record.credentials
            && let Some(token) = &credentials.token_response
            && Some(oauth2::TokenResponse::access_token(token).secret().as_str()) != stale
            && expires_in(credentials).is_none_or(|left| left > 1)
        {
            return Ok(());
        }
        let mut manager = self.manager().await?;
        let metadata = manager
            .resolve_metadata_from_challenge(challenge)
            .await?
            .metadata;
        if let Err(error) = check_endpoints(&self.server, &metadata) {
            return Err(AuthError::ClientCredentialsError(error.to_string()));
        }
        manager.set_metadata(metadata.clone());
        self.store
            .update(|record| {
                *record = Record {
                    shown: self.shown.clone(),
                    server: self.server.clone(),
                    metadata: Some(metadata.clone()),
                    client_credentials: true,
                    ..Record::default()
                };
            })
            .map_err(AuthError::CredentialStoreError)?;
        let key = match (&self.settings.private_key, &self.settings.private_key_file) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(file)) => Some(jwt::read_key(file)?),
            (None, None) => None,
        };
        if let Some(key) = &key {
            remember(key);
            let grant = jwt::Grant {
                client_id: self.settings.client_id.as_deref().unwrap_or_default(),
                key,
                algorithm: self
                    .settings
                    .signing_algorithm
                    .as_deref()
                    .unwrap_or("RS256"),
                scopes: &self.settings.scopes,
                resource: &self.url,
            };
            jwt::obtain(&grant, &metadata, &self.http, &self.store).await?;
        } else {
            let config = self.client_credentials_config()?;
            manager.validate_client_credentials_metadata(&config)?;
            manager.configure_client_credentials(&config)?;
            manager.exchange_client_credentials(&config).await?;
        }
        *self.cached.lock().await = None;
        Ok(())
    }
}

/// A scope string with its scopes sorted: the same set is the same string.
fn same_order(scope: &str) -> String {
    let mut scopes: Vec<&str> = scope.split_whitespace().collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes.join(" ")
}

/// Whether `url` may carry secrets: https, or http on this machine.
fn secure(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    url.username().is_empty()
        && url.password().is_none()
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

/// Refuses metadata whose endpoints would take secrets (codes, verifiers,
/// client secrets, tokens) or the person in the clear or elsewhere than
/// they seem: each must be https, or http on this machine, without user
/// information.
fn check_endpoints(server: &str, metadata: &AuthorizationMetadata) -> Result<(), McpError> {
    let endpoints = [
        Some(&metadata.authorization_endpoint),
        Some(&metadata.token_endpoint),
        metadata.registration_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        if !secure(endpoint) {
            return Err(McpError::AuthFailed {
                server: server.to_owned(),
                message: format!(
                    "the authorization server's endpoint `{}` is not a plain https:// URL: refused",
                    crate::printer::one_line(&crate::redact::value(endpoint))
                ),
                suggestion: "ask the server's owner to publish https:// endpoints".to_owned(),
            });
        }
    }
    Ok(())
}

/// Seconds until the kept access token expires, when that is known.
pub(crate) fn expires_in(credentials: &rmcp::transport::auth::StoredCredentials) -> Option<u64> {
    let lifetime = oauth2::TokenResponse::expires_in(credentials.token_response.as_ref()?)?;
    let received = credentials.token_received_at?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Some(
        received
            .saturating_add(lifetime.as_secs())
            .saturating_sub(now),
    )
}

/// rmcp's in-memory store of a login's PKCE verifier, which also masks it
/// in messages.
#[derive(Default)]
struct Remembered(rmcp::transport::auth::InMemoryStateStore);

#[async_trait::async_trait]
impl rmcp::transport::auth::StateStore for Remembered {
    async fn save(
        &self,
        csrf_token: &str,
        state: rmcp::transport::auth::StoredAuthorizationState,
    ) -> Result<(), AuthError> {
        remember(&state.pkce_verifier);
        self.0.save(csrf_token, state).await
    }

    async fn load(
        &self,
        csrf_token: &str,
    ) -> Result<Option<rmcp::transport::auth::StoredAuthorizationState>, AuthError> {
        self.0.load(csrf_token).await
    }

    async fn delete(&self, csrf_token: &str) -> Result<(), AuthError> {
        self.0.delete(csrf_token).await
    }
}

/// How a login reaches the person: where the URL is shown, and whether a
/// pasted URL is read from the terminal.
pub(crate) struct Prompt<'a> {
    /// Shows a line on stderr.
    pub say: &'a (dyn Fn(&str) + Sync),
    /// Whether stdin is a terminal to paste the redirected URL on.
    pub paste: bool,
}

/// What a login obtained.
#[derive(Debug)]
pub(crate) struct LoggedIn {
    /// The scopes granted (as the server says, else as asked).
    pub scopes: Vec<String>,
    /// Whether a refresh token came too.
    pub refreshable: bool,
}

/// Logs in to the server: discovery from `challenge` (a 401's
/// `WWW-Authenticate`, when one came) or the well-known paths, the client's
/// identity (pre-registered, a client ID metadata document, or dynamic
/// registration), then the authorization code flow in the browser, back to
/// a listener on 127.0.0.1, or the client credentials grant for a machine.
pub(crate) async fn login(
    access: &Access,
    asked: bool,
    challenge: Option<&str>,
    prompt: &Prompt<'_>,
) -> Result<LoggedIn, McpError> {
    let failed = |error: AuthError| auth_failed(&access.server, &error);
    if access.is_machine() {
        access
            .obtain_client_credentials(challenge, None)
            .await
            .map_err(failed)?;
        return logged_in(access);
    }
    let kept = access
        .store
        .read()
        .map_err(|why| failed(AuthError::CredentialStoreError(why)))?;
    let step_up = kept
        .as_ref()
        .and_then(|record| record.step_up.clone().map(|scope| (scope, record.step_ups)));
    if let Some((scope, tries)) = &step_up
        && *tries >= MAX_STEP_UPS
    {
        return Err(McpError::AuthFailed {
            server: access.server.clone(),
            message: format!(
                "the server still asks for scope `{}` after {tries} logins that asked for it: it does not grant it to this client",
                crate::printer::one_line(scope)
            ),
            suggestion: format!(
                "ask the server's owner for that scope; `mcp-cli auth --logout {}` starts over",
                crate::printer::one_line(&access.server)
            ),
        });
    }
    let mut manager = access.manager().await.map_err(failed)?;
    let resolution = manager
        .resolve_metadata_from_challenge(challenge)
        .await
        .map_err(failed)?;
    crate::debug!(
        "{}: authorization server metadata from {:?}",
        access.server,
        resolution.source
    );
    // Answered without a token, and no metadata anywhere: nothing to log
    // in to (the 2025-03-26 fallback endpoints are for a server that asks).
    if !asked
        && resolution.source
            == rmcp::transport::auth::AuthorizationMetadataSource::LegacyEndpointFallback
    {
        return Err(McpError::AuthFailed {
            server: access.server.clone(),
            message: "the server answered without asking for a token, and publishes no OAuth metadata: there is nothing to log in to".to_owned(),
            suggestion: format!(
                "use `{}` as it is; credentials it wants go in the `headers` of its entry",
                access.server
            ),
        });
    }
    let metadata = resolution.metadata;
    // The login page is opened in a browser, and the token endpoint gets
    // the code and verifier: never another scheme a hostile server names
    // (`file:`, `javascript:`, an app's), nor plain http to another host.
    check_endpoints(&access.server, &metadata)?;
    manager.set_metadata(metadata.clone());
    // Scopes: the config's; else, for a step-up, those granted and those
    // asked for; else rmcp's choice (the challenge's, else the server's).
    let scopes: Vec<String> = if !access.settings.scopes.is_empty() {
        access.settings.scopes.clone()
    } else if let Some((scope, _)) = &step_up {
        let mut scopes: Vec<String> = kept
            .as_ref()
            .and_then(|record| record.credentials.as_ref())
            .map(|credentials| credentials.granted_scopes.clone())
            .unwrap_or_default();
        scopes.extend(manager.select_scopes(Some(scope), &[]));
        let mut seen = std::collections::HashSet::new();
        scopes.retain(|scope| seen.insert(scope.clone()));
        scopes
    } else {
        manager.select_scopes(None, &[])
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|error| {
            failed(AuthError::InternalError(format!(
                "cannot listen on 127.0.0.1 for the browser's redirect: {error}"
            )))
        })?;
    let port = listener.local_addr().map_err(|error| {
        failed(AuthError::InternalError(format!(
            "cannot listen on 127.0.0.1: {error}"
        )))
    })?;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", port.port());
    let mut request = AuthorizationRequest::new(&redirect_uri)
        .with_client_name("mcp-cli")
        .with_scopes(scopes.clone());
    // The client's identity: pre-registered; else a client ID metadata
    // document, where the server takes one; else registered now (its
    // secret, if any, kept: rmcp forgets it).
    let mut client_secret = access.settings.client_secret.clone();
    if let Some(client_id) = &access.settings.client_id {
        request = request.with_preregistered_client(client_id);
        if let Some(secret) = &client_secret {
            request = request.with_client_secret(secret);
        }
    } else if let Some(url) = &access.settings.client_metadata_url
        && supports(&metadata, "client_id_metadata_document_supported")
    {
        request = request.with_client_metadata_url(url);
    } else {
        let asked: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let registered = manager
            .register_client("mcp-cli", &redirect_uri, &asked)
            .await
            .map_err(failed)?;
        client_secret.clone_from(&registered.client_secret);
        if let Some(secret) = &client_secret {
            remember_client(Some(&registered.client_id), secret);
        }
        request = request.with_preregistered_client(&registered.client_id);
        if let Some(secret) = &registered.client_secret {
            request = request.with_client_secret(secret);
        }
    }
    let session = AuthorizationSession::new(manager, request)
        .await
        .map_err(|(_, error)| failed(error))?;
    let url = session.get_authorization_url().to_owned();
    let state = url::Url::parse(&url)
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "state")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    (prompt.say)(&format!(
        "To log in to `{}`, open this URL in a browser:\n\n  {url}\n",
        access.server
    ));
    if let Some(opened) = open_browser(&url) {
        (prompt.say)(&format!("(opened with {opened}; waiting for the browser)"));
    }
    let callback = if prompt.paste {
        (prompt.say)(&format!(
            "Waiting for the browser to come back to {redirect_uri}. On another machine, paste here the URL it was sent to (it starts with {redirect_uri}):"
        ));
        tokio::select! {
            callback = listen(&listener, &state, &access.server, prompt.say) => callback?,
            pasted = pasted() => check_pasted(&pasted?, &redirect_uri, &state, &access.server)?,
        }
    } else {
        listen(&listener, &state, &access.server, prompt.say).await?
    };
    drop(listener);
    remember(&callback.code);
    session
        .handle_callback_with_issuer(&callback.code, &callback.state, callback.issuer.as_deref())
        .await
        .map_err(failed)?;
    let _lock = access
        .store
        .lock()
        .await
        .map_err(|why| failed(AuthError::CredentialStoreError(why)))?;
    access
        .store
        .update(|record| {
            record.shown.clone_from(&access.shown);
            record.server.clone_from(&access.server);
            record.metadata = Some(metadata);
            record.client_secret = client_secret;
            record.redirect_uri = Some(redirect_uri);
            record.client_credentials = false;
            match record.step_up.take() {
                Some(scope) => {
                    record.asked = Some(scope);
                    record.step_ups += 1;
                }
                None => {
                    record.asked = None;
                    record.step_ups = 0;
                }
            }
        })
        .map_err(|why| failed(AuthError::CredentialStoreError(why)))?;
    // A pending step-up stays counted until a login succeeds without one.
    logged_in(access)
}

fn logged_in(access: &Access) -> Result<LoggedIn, McpError> {
    let record = access
        .store
        .read()
        .map_err(|why| auth_failed(&access.server, &AuthError::CredentialStoreError(why)))?
        .unwrap_or_default();
    let credentials = record.credentials.unwrap_or_else(|| {
        rmcp::transport::auth::StoredCredentials::new(String::new(), None, Vec::new(), None)
    });
    Ok(LoggedIn {
        refreshable: credentials
            .token_response
            .as_ref()
            .is_some_and(|token| oauth2::TokenResponse::refresh_token(token).is_some()),
        scopes: credentials.granted_scopes,
    })
}

/// Whether the metadata says `true` for `field`.
fn supports(metadata: &AuthorizationMetadata, field: &str) -> bool {
    metadata
        .additional_fields
        .get(field)
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The login failed: rmcp's reason, on one line, shortened.
pub(crate) fn auth_failed(server: &str, error: &AuthError) -> McpError {
    // An authorization server's error may echo what it was sent.
    let message = scrub(&error.to_string());
    let message = crate::printer::one_line(&message).into_owned();
    let message: String = message.chars().take(400).collect();
    McpError::AuthFailed {
        server: server.to_owned(),
        message,
        suggestion: match error {
            AuthError::CredentialStoreError(_) => {
                "fix the token file or folder named above (or remove it and log in again)"
                    .to_owned()
            }
            AuthError::ClientCredentialsError(_) => format!(
                "check the `oauth` of `{server}` (clientId, clientSecret or privateKey, signingAlgorithm) against what its authorization server has registered"
            ),
            _ => format!("run `mcp-cli auth {server}` again; MCP_DEBUG=1 shows each step"),
        },
    }
}

/// The `code`, `state` and `iss` the browser came back with.
struct Callback {
    code: String,
    state: String,
    issuer: Option<String>,
}

/// What came back to the redirect URI.
enum Came {
    /// The code, for this login.
    Login(Callback),
    /// The authorization server's refusal, for this login.
    Refused(McpError),
    /// Something with another `state` (or none): not this login's.
    Stray,
}

/// Reads the redirect's query: the code, or the server's error, if its
/// `state` is this login's.
fn callback(query: &str, state: &str, server: &str) -> Came {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    };
    if get("state").as_deref() != Some(state) {
        return Came::Stray;
    }
    if let Some(error) = get("error") {
        let description = get("error_description")
            .map(|text| format!(": {}", crate::printer::one_line(&text)))
            .unwrap_or_default();
        return Came::Refused(McpError::AuthFailed {
            server: server.to_owned(),
            message: format!(
                "the authorization server refused: {}{description}",
                crate::printer::one_line(&error)
            ),
            suggestion: format!("run `mcp-cli auth {server}` again, and allow access"),
        });
    }
    match get("code") {
        Some(code) => Came::Login(Callback {
            code,
            state: state.to_owned(),
            issuer: get("iss"),
        }),
        None => Came::Refused(McpError::AuthFailed {
            server: server.to_owned(),
            message: "the browser came back without a `code`".to_owned(),
            suggestion: format!("run `mcp-cli auth {server}` again"),
        }),
    }
}

/// Waits for the browser's redirect to the listener, serving connections
/// side by side (an idle one holds up nothing). Other paths (a favicon)
/// get a 404, a request with another `state` a 400 and a warning: neither
/// ends the wait, so that nothing else on this machine can end a login.
async fn listen(
    listener: &tokio::net::TcpListener,
    state: &str,
    server: &str,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Callback, McpError> {
    let (send, mut receive) = tokio::sync::mpsc::channel::<Came>(4);
    loop {
        tokio::select! {
            came = receive.recv() => match came {
                Some(Came::Login(callback)) => return Ok(callback),
                Some(Came::Refused(error)) => return Err(error),
                Some(Came::Stray) => say(
                    "warning: a request to the redirect URI with another login's `state` was refused; still waiting",
                ),
                None => {}
            },
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, say: not a busy loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (send, state, server) = (send.clone(), state.to_owned(), server.to_owned());
                tokio::spawn(async move {
                    if let Some(came) = serve_one(stream, &state, &server).await {
                        let _ = send.send(came).await;
                    }
                });
            }
        }
    }
}

/// One connection to the listener: `None` unless it is a `GET /callback`.
async fn serve_one(mut stream: tokio::net::TcpStream, state: &str, server: &str) -> Option<Came> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 16384 {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return None;
    }
    let text = String::from_utf8_lossy(&request);
    let target = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("GET "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default();
    let Some(query) = target
        .strip_prefix("/callback")
        .filter(|rest| rest.is_empty() || rest.starts_with('?'))
        .map(|rest| rest.trim_start_matches('?'))
    else {
        let _ = respond(&mut stream, "404 Not Found", "Not found.").await;
        return None;
    };
    let came = callback(query, state, server);
    let (status, page) = match &came {
        Came::Login(_) => (
            "200 OK",
            "mcp-cli received the authorization and finishes the login in the terminal. You can close this tab.",
        ),
        Came::Refused(_) => ("200 OK", "The login did not go through; see the terminal."),
        Came::Stray => (
            "400 Bad Request",
            "This is not the login mcp-cli is waiting for.",
        ),
    };
    let _ = respond(&mut stream, status, page).await;
    Some(came)
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><meta charset=utf-8><title>mcp-cli</title><p>{text}</p>\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A line pasted on the terminal (read on a thread: stdin has no async
/// reader here).
async fn pasted() -> Result<String, McpError> {
    let (send, receive) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = send.send(std::io::stdin().read_line(&mut line).map(|_| line));
    });
    match receive.await {
        Ok(Ok(line)) if !line.trim().is_empty() => Ok(line.trim().to_owned()),
        // No line (end of input): the browser may still come back.
        _ => std::future::pending().await,
    }
}

/// A pasted URL: it must be the redirect URI's, on the loopback, with the
/// redirect's query.
fn check_pasted(
    pasted: &str,
    redirect_uri: &str,
    state: &str,
    server: &str,
) -> Result<Callback, McpError> {
    let refused = |why: &str| McpError::AuthFailed {
        server: server.to_owned(),
        message: format!("the pasted URL {why}"),
        suggestion: format!(
            "paste the whole address the browser was sent to, starting with {redirect_uri}"
        ),
    };
    let Some(rest) = pasted.strip_prefix(redirect_uri) else {
        return Err(refused(&format!(
            "is not the login's redirect URI ({redirect_uri}): refused"
        )));
    };
    let Some(query) = rest.strip_prefix('?') else {
        return Err(refused("has no query (`?code=...&state=...`)"));
    };
    match callback(query.split('#').next().unwrap_or_default(), state, server) {
        Came::Login(callback) => Ok(callback),
        Came::Refused(error) => Err(error),
        Came::Stray => Err(refused(
            "is of another login (its `state` is not this one's)",
        )),
    }
}

/// Opens `url` with `$BROWSER` (commands separated by `:`, `%s` for the
/// URL, else it is the last argument), else the platform's opener; returns
/// what opened it. The browser's output goes nowhere: stdout is data.
fn open_browser(url: &str) -> Option<String> {
    use std::os::unix::process::CommandExt;
    let commands: Vec<String> = match crate::env_vars::get(crate::env_vars::BROWSER) {
        Some(browser) if !browser.trim().is_empty() => {
            browser.split(':').map(str::to_owned).collect()
        }
        _ => vec![
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_owned(),
        ],
    };
    for command in commands {
        let Ok(mut words) = crate::config::split_command(&command) else {
            continue;
        };
        if words.is_empty() {
            continue;
        }
        if words.iter().any(|word| word.contains("%s")) {
            for word in &mut words {
                *word = word.replace("%s", url);
            }
        } else {
            words.push(url.to_owned());
        }
        // Its own process group: a Ctrl-C meant for mcp-cli is not the
        // browser's.
        let spawned = std::process::Command::new(&words[0])
            .args(&words[1..])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = spawned {
            // Reaped when it exits; the login does not wait for it.
            std::thread::spawn(move || child.wait());
            return Some(crate::printer::one_line(&command).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_only_to_https_or_this_machine() {
        for good in [
            "https://as.example/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/authorize",
            "http://[::1]:9/t",
        ] {
            assert!(secure(good), "{good}");
        }
        for bad in [
            "http://as.example/token",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://accounts.example@evil.example/a",
            "https://user:pw@as.example/a",
            "not a url",
        ] {
            assert!(!secure(bad), "{bad}");
        }
    }

    #[test]
    fn known_secrets_are_masked_in_any_shape() {
        remember("v3rifier-abcdef");
        remember_client(Some("cid"), "S3cretValue");
        let echoed = "you sent code%3Dv3rifier-abcdef, 'verifier': 'v3rifier-abcdef', Basic Y2lkOlMzY3JldFZhbHVl";
        let shown = scrub(echoed);
        assert!(!shown.contains("v3rifier"), "{shown}");
        assert!(!shown.contains("Y2lkOlMzY3JldFZhbHVl"), "{shown}");
        assert_eq!(same_order("write mcp  admin mcp"), "admin mcp write");
    }

    #[test]
    fn a_pasted_url_must_be_the_redirect() {
        let redirect = "http://127.0.0.1:4000/callback";
        let good = check_pasted(
            "http://127.0.0.1:4000/callback?code=c&state=s&iss=https%3A%2F%2Fas",
            redirect,
            "s",
            "x",
        )
        .unwrap_or_else(|_| panic!("a good URL"));
        assert_eq!((good.code.as_str(), good.state.as_str()), ("c", "s"));
        assert_eq!(good.issuer.as_deref(), Some("https://as"));
        for bad in [
            "https://evil.example/callback?code=c&state=s",
            "http://127.0.0.1:4001/callback?code=c&state=s",
            "http://127.0.0.1:4000/callbackx?code=c&state=s",
            "http://127.0.0.1:4000/callback",
            "http://127.0.0.1:4000/callback?state=s",
            "http://127.0.0.1:4000/callback?code=c&state=other",
            "http://127.0.0.1:4000/callback?code=c",
        ] {
            assert!(check_pasted(bad, redirect, "s", "x").is_err(), "{bad}");
        }
        let refused = check_pasted(
            "http://127.0.0.1:4000/callback?error=access_denied&state=s&error_description=no%1b[31m",
            redirect,
            "s",
            "x",
        );
        let Err(McpError::AuthFailed { message, .. }) = refused else {
            panic!("an error")
        };
        assert!(message.contains("access_denied") && !message.contains('\x1b'));
    }
}
