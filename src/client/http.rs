//! Remote servers: Streamable HTTP through rmcp's reqwest client, and
//! what explains its failures (a status, a challenge, the first bytes of a
//! body, a connection or TLS error) in mcp-cli's error classes.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};

use super::process::MAX_MESSAGE_BYTES;
use crate::config::Setting;
use crate::error::McpError;

/// How long a TCP (and TLS) connection may take to open. The overall
/// deadline still bounds it; this names the cause when a host drops packets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Redirects followed, within the URL's origin.
const MAX_REDIRECTS: usize = 5;

/// How often reopening an event stream that failed (an error, not a close:
/// rmcp reopens a closed one after the server's `retry:`) is tried again;
/// [`STREAM_SPACING`] and the overall deadline bound the rest.
const STREAM_RESUMES: usize = 5;

/// A remote server's endpoint.
pub(super) struct Endpoint<'a> {
    /// The server's name in the config.
    pub server: &'a str,
    /// The URL, `${VAR}` substituted.
    pub url: &'a str,
    /// The URL as written, secrets masked: the only form shown.
    pub shown: &'a str,
    /// Extra request headers.
    pub headers: &'a [Setting],
    /// Its `oauth` settings.
    pub oauth: Option<&'a crate::config::OAuth>,
    /// Where OAuth tokens are kept; `None`: OAuth is not used (the
    /// anonymous probe of a login).
    pub tokens: Option<&'a std::path::Path>,
}

impl<'a> Endpoint<'a> {
    /// The endpoint of a remote server's entry; `None` for a stdio one.
    pub fn of(
        entry: &'a crate::config::ServerEntry,
        tokens: Option<&'a std::path::Path>,
    ) -> Option<Self> {
        let crate::config::ServerConfig::Http {
            url,
            headers,
            oauth,
            ..
        } = &entry.transport
        else {
            return None;
        };
        Some(Endpoint {
            server: &entry.name,
            url,
            shown: &entry.shown,
            headers,
            oauth: oauth.as_deref(),
            tokens,
        })
    }

    /// OAuth for this endpoint over `client`, unless its headers carry
    /// credentials of their own or tokens have no place.
    fn access(&self, client: &reqwest::Client) -> Option<Arc<super::oauth::Access>> {
        let tokens = self.tokens?;
        if self
            .headers
            .iter()
            .any(|header| header.name.eq_ignore_ascii_case("authorization"))
        {
            return None;
        }
        Some(Arc::new(super::oauth::Access::new(
            self.server,
            self.url,
            self.shown,
            self.oauth,
            tokens,
            client.clone(),
        )))
    }
}

/// OAuth for `endpoint` (over its own HTTP client); `None` when its
/// headers carry credentials of their own.
pub(super) fn oauth_access(
    endpoint: &Endpoint<'_>,
) -> Result<Option<Arc<super::oauth::Access>>, McpError> {
    Ok(endpoint.access(&client(endpoint)?))
}

/// The Streamable HTTP transport to `endpoint`.
pub(super) fn transport(
    endpoint: &Endpoint<'_>,
) -> Result<StreamableHttpClientTransport<Authed>, McpError> {
    let client = client(endpoint)?;
    let oauth = endpoint.access(&client);
    let headers: HashMap<HeaderName, HeaderValue> = headers(endpoint)?
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect();
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(STREAM_RESUMES);
    retry.base_duration = Duration::from_millis(200);
    retry.max_delay = Some(Duration::from_secs(5));
    let mut config = StreamableHttpClientTransportConfig::with_uri(endpoint.url)
        .custom_headers(headers)
        .max_json_response_size(MAX_MESSAGE_BYTES)
        .max_sse_event_size(MAX_MESSAGE_BYTES)
        .max_error_response_size(4096)
        .reinit_on_expired_session(true);
    config.retry_config = Arc::new(retry);
    Ok(StreamableHttpClientTransport::with_client(
        Authed {
            plain: Paced {
                client,
                last_stream: Arc::default(),
            },
            oauth,
        },
        config,
    ))
}

type Failed = StreamableHttpError<reqwest::Error>;

/// The client rmcp sends with: rmcp's OAuth client over [`Paced`] when
/// tokens are kept for the server (looked up at each request, so that a
/// login in another shell, or by the daemon, is seen at once), else
/// [`Paced`] alone. A 403 `insufficient_scope` is noted for the next login;
/// a client credentials client gets a new token on a 401, once.
#[derive(Clone)]
pub(super) struct Authed {
    plain: Paced,
    oauth: Option<Arc<super::oauth::Access>>,
}

impl Authed {
    /// Runs `send` with rmcp's OAuth client when tokens are kept, else
    /// with the plain client (`None`).
    async fn with<T, F, Fut>(&self, send: F) -> Result<T, Failed>
    where
        F: Fn(Option<rmcp::transport::auth::AuthClient<Paced>>) -> Fut,
        Fut: Future<Output = Result<T, Failed>>,
    {
        let Some(oauth) = &self.oauth else {
            return send(None).await;
        };
        let client = oauth.client(&self.plain).await?;
        // The token a machine sends, to tell a refused one from one another
        // process has just replaced.
        let sent = match &client {
            Some(client) if oauth.is_machine() => client.get_access_token().await.ok(),
            _ => None,
        };
        let result = send(client).await;
        match &result {
            Err(StreamableHttpError::InsufficientScope(scope)) => {
                oauth.note_step_up(&scope.www_authenticate_header).await;
            }
            Err(StreamableHttpError::AuthRequired(auth)) if oauth.is_machine() => {
                // The request was refused, not run: sent again with a new token.
                oauth
                    .obtain_client_credentials(Some(&auth.www_authenticate_header), sent.as_deref())
                    .await?;
                return send(oauth.client(&self.plain).await?).await;
            }
            _ => {}
        }
        result
    }
}

impl StreamableHttpClient for Authed {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failed> {
        self.with(|client| {
            let (uri, message, session_id, auth_header, custom_headers) = (
                uri.clone(),
                message.clone(),
                session_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
            );
            async move {
                match client {
                    Some(client) => {
                        client
                            .post_message(uri, message, session_id, auth_header, custom_headers)
                            .await
                    }
                    None => {
                        self.plain
                            .post_message(uri, message, session_id, auth_header, custom_headers)
                            .await
                    }
                }
            }
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Failed> {
        self.with(|client| {
            let (uri, message, session_id, auth_header, custom_headers) = (
                uri.clone(),
                message.clone(),
                session_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
            );
            async move {
                match client {
                    Some(client) => {
                        client
                            .post_message_with_response_limits(
                                uri,
                                message,
                                session_id,
                                auth_header,
                                custom_headers,
                                limits,
                            )
                            .await
                    }
                    None => {
                        self.plain
                            .post_message_with_response_limits(
                                uri,
                                message,
                                session_id,
                                auth_header,
                                custom_headers,
                                limits,
                            )
                            .await
                    }
                }
            }
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Failed> {
        self.with(|client| {
            let (uri, session_id, auth_header, custom_headers) = (
                uri.clone(),
                session_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
            );
            async move {
                match client {
                    Some(client) => {
                        client
                            .delete_session(uri, session_id, auth_header, custom_headers)
                            .await
                    }
                    None => {
                        self.plain
                            .delete_session(uri, session_id, auth_header, custom_headers)
                            .await
                    }
                }
            }
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<SseStream, Failed> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            MAX_MESSAGE_BYTES,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<SseStream, Failed> {
        self.with(|client| {
            let (uri, session_id, last_event_id, auth_header, custom_headers) = (
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
            );
            async move {
                match client {
                    Some(client) => {
                        client
                            .get_stream_with_max_sse_event_size(
                                uri,
                                session_id,
                                last_event_id,
                                auth_header,
                                custom_headers,
                                max_sse_event_size,
                            )
                            .await
                    }
                    None => {
                        self.plain
                            .get_stream_with_max_sse_event_size(
                                uri,
                                session_id,
                                last_event_id,
                                auth_header,
                                custom_headers,
                                max_sse_event_size,
                            )
                            .await
                    }
                }
            }
        })
        .await
    }
}

/// The shortest time between two event streams opened (GETs: resuming a
/// cut answer, or the standalone stream): a server that closes each at once
/// with `retry: 0` would have the client reopen it in a busy loop.
const STREAM_SPACING: Duration = Duration::from_millis(250);

/// reqwest's client for rmcp, its event streams opened at most every
/// [`STREAM_SPACING`]; everything else goes to it unchanged (the methods
/// left to the trait's defaults end in those below).
#[derive(Clone)]
pub(crate) struct Paced {
    client: reqwest::Client,
    last_stream: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl Paced {
    async fn pace(&self) {
        let now = tokio::time::Instant::now();
        let next = {
            let mut last = self.last_stream.lock().expect("stream pacing lock");
            let next = last.map_or(now, |last| (last + STREAM_SPACING).max(now));
            *last = Some(next);
            next
        };
        // Not even a timer tick when no wait is due: the first stream
        // opens as it would unpaced.
        if next > now {
            tokio::time::sleep_until(next).await;
        }
    }
}

type SseStream = futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>;

impl StreamableHttpClient for Paced {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.client
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.client
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.client
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<SseStream, StreamableHttpError<Self::Error>> {
        // rmcp calls the bounded form; this one keeps mcp-cli's bound.
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            MAX_MESSAGE_BYTES,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<SseStream, StreamableHttpError<Self::Error>> {
        self.pace().await;
        self.client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

/// The client and headers for the legacy HTTP+SSE transport to `endpoint`.
pub(super) async fn legacy(
    endpoint: &Endpoint<'_>,
) -> Result<(reqwest::Client, HeaderMap), McpError> {
    let client = client(endpoint)?;
    let mut headers = headers(endpoint)?;
    // The kept OAuth token, refreshed if due (the legacy transport has no
    // per-request hook: a token that expires during the session is not
    // refreshed).
    if let Some(access) = endpoint.access(&client) {
        let plain = Paced {
            client: client.clone(),
            last_stream: Arc::default(),
        };
        match access.token(&plain).await {
            Ok(Some(token)) => {
                if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    headers.insert(reqwest::header::AUTHORIZATION, value);
                }
            }
            Ok(None) => {}
            Err(error) => return Err(super::oauth::auth_failed(endpoint.server, &error)),
        }
    }
    Ok((client, headers))
}

/// The config's headers, checked (the config's loader checked them too).
fn headers(endpoint: &Endpoint<'_>) -> Result<HeaderMap, McpError> {
    let mut headers = HeaderMap::new();
    for header in endpoint.headers {
        let bad = |why: &str| McpError::InvalidSetting {
            var: format!("header `{}` of server `{}`", header.name, endpoint.server).into(),
            value: header.display.clone(),
            expected: why.to_owned().into(),
        };
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| bad("a header name (letters, digits and -)"))?;
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| bad("a header value (visible ASCII, no line breaks)"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The HTTP client for `endpoint`: proxies from `HTTPS_PROXY`, `HTTP_PROXY`
/// and `NO_PROXY`; for `https`, TLS with the system's roots and those of
/// `SSL_CERT_FILE`, set up only then.
fn client(endpoint: &Endpoint<'_>) -> Result<reqwest::Client, McpError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("mcp-cli/", env!("CARGO_PKG_VERSION")))
        // Redirects are followed within the origin only: the config's
        // headers (credentials) go with every request, and must not go to
        // another host.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }));
    // A server on this machine is never reached through a proxy: the
    // proxy's loopback is not this one.
    if is_loopback(endpoint.url) {
        builder = builder.no_proxy();
    }
    // reqwest asks for it whatever the scheme. A second install fails
    // harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The system's roots are read (a file per certificate) only for https:
    // plain http gets an empty store, which no redirect can need (they stay
    // within the origin, scheme included).
    if !endpoint.url.starts_with("https://") {
        builder = builder.tls_certs_only(Vec::new());
    }
    if endpoint.url.starts_with("https://")
        && let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|path| !path.is_empty())
    {
        let bad = |why: String| McpError::InvalidSetting {
            var: "SSL_CERT_FILE".into(),
            value: std::path::Path::new(&path).display().to_string(),
            expected: why.into(),
        };
        let pem =
            std::fs::read(&path).map_err(|error| bad(format!("a readable file ({error})")))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| bad(format!("PEM certificates ({error})")))?;
        if certificates.is_empty() {
            return Err(bad("a file with PEM certificates in it".to_owned()));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|error| {
        unreachable(
            endpoint.server,
            endpoint.shown,
            &error,
            "the HTTP client could not be set up",
        )
    })
}

/// What a failed request to a remote server means: the error's chain is
/// searched for what rmcp and reqwest say. `sent` tells whether the request
/// went out; a failure before any byte of it (a refused connection) means
/// it did not, whatever `sent` says.
pub(super) fn failure(
    server: &str,
    shown: &str,
    method: &str,
    error: &(dyn Error + 'static),
    sent: bool,
) -> McpError {
    let http = |status, retry_after, challenge, body| {
        Status {
            status,
            retry_after,
            challenge,
            body,
        }
        .error(server, method)
    };
    if let Some(super::sse::Error::Protocol(message)) =
        chain(error).find_map(|cause| cause.downcast_ref::<super::sse::Error>())
    {
        return McpError::Protocol {
            server: server.to_owned(),
            method: method.to_owned(),
            message: message.clone(),
            stderr: Vec::new(),
        };
    }
    let Some(error) =
        chain(error).find_map(|cause| cause.downcast_ref::<StreamableHttpError<reqwest::Error>>())
    else {
        return match chain(error).find_map(|cause| cause.downcast_ref::<reqwest::Error>()) {
            Some(error) => from_reqwest(server, shown, method, error, sent),
            None => closed(server, method, sent),
        };
    };
    match error {
        StreamableHttpError::HttpStatus(status) => {
            http(status.status, status.retry_after.as_deref(), None, None)
        }
        StreamableHttpError::AuthRequired(auth) => {
            http(401, None, Some(&auth.www_authenticate_header), None)
        }
        StreamableHttpError::InsufficientScope(scope) => {
            http(403, None, Some(&scope.www_authenticate_header), None)
        }
        // Expired again after a new session: the request was not taken.
        StreamableHttpError::SessionExpired => closed(server, method, false),
        StreamableHttpError::UnexpectedContentType(kind) => McpError::NotJsonRpc {
            server: server.to_owned(),
            method: method.to_owned(),
            found: match kind {
                Some(kind) => format!("content of type `{}`", shorten(kind, 100)),
                None => "content of no stated type".to_owned(),
            },
            body: None,
        },
        StreamableHttpError::UnexpectedServerResponse(text) => {
            unexpected(server, method, text)
        }
        StreamableHttpError::ResponseBodyTooLarge { max_size } => McpError::MessageTooLarge {
            server: server.to_owned(),
            method: method.to_owned(),
            why: format!(
                "mcp-cli reads answers of up to {} MiB; this one was longer",
                max_size >> 20
            ),
        },
        StreamableHttpError::ReservedHeaderConflict(name) => McpError::InvalidSetting {
            var: format!("header `{name}` of server `{server}`").into(),
            value: "(hidden)".to_owned(),
            expected: "a header mcp-cli does not set itself (Accept, Mcp-Session-Id and Last-Event-ID are its own)".into(),
        },
        StreamableHttpError::Client(error) => from_reqwest(server, shown, method, error, sent),
        // The kept token could not be read, refreshed or obtained.
        StreamableHttpError::Auth(error) => super::oauth::auth_failed(server, error),
        // rmcp's own limit on one event (its type is private): not a
        // dropped connection, and not worth fetching again.
        StreamableHttpError::Sse(error) if error.to_string().contains("exceeded the maximum size") => {
            McpError::MessageTooLarge {
                server: server.to_owned(),
                method: method.to_owned(),
                why: format!(
                    "mcp-cli reads events of up to {} MiB; this one was longer",
                    MAX_MESSAGE_BYTES >> 20
                ),
            }
        }
        // The server's answers, not the network: not worth another try.
        StreamableHttpError::Deserialize(error) => McpError::NotJsonRpc {
            server: server.to_owned(),
            method: method.to_owned(),
            found: "an event that is not JSON-RPC".to_owned(),
            body: Some(crate::printer::one_line(&error.to_string()).into_owned()),
        },
        StreamableHttpError::MissingSessionIdInResponse => McpError::Protocol {
            server: server.to_owned(),
            method: method.to_owned(),
            message: "the server answered without the `Mcp-Session-Id` its session needs".to_owned(),
            stderr: Vec::new(),
        },
        StreamableHttpError::ReinitializationFailed(error) => McpError::ServerError {
            server: server.to_owned(),
            method: "initialize".to_owned(),
            code: error.code.0,
            message: error.message.to_string(),
            data: crate::error::error_data(error.data.as_ref()),
        },
        // A dropped connection, a stream cut short, a body that broke off.
        _ => closed(server, method, sent),
    }
}

/// A failure reqwest reports: a connection never made is the server out
/// of reach (the request did not go out); the rest broke off on the way.
fn from_reqwest(
    server: &str,
    shown: &str,
    method: &str,
    error: &reqwest::Error,
    sent: bool,
) -> McpError {
    if error.is_connect() {
        return unreachable(server, shown, error, "");
    }
    if let Some((tls, _)) = tls_problem(error) {
        return unreachable(server, shown, error, &tls);
    }
    // A dropped connection, a stream cut short, a body that broke off.
    closed(server, method, sent)
}

/// An HTTP error status and what came with it.
struct Status<'a> {
    status: u16,
    retry_after: Option<&'a str>,
    challenge: Option<&'a str>,
    body: Option<String>,
}

impl Status<'_> {
    fn error(self, server: &str, method: &str) -> McpError {
        McpError::HttpStatus {
            server: server.to_owned(),
            method: method.to_owned(),
            status: self.status,
            retry_after: self.retry_after.and_then(|value| {
                crate::retry::parse_retry_after(value, std::time::SystemTime::now())
            }),
            // What a server sends back may echo what it was sent (a token).
            challenge: self
                .challenge
                .map(|text| super::oauth::scrub(&shorten(text, 500))),
            body: self.body.map(|text| super::oauth::scrub(&text)),
        }
    }
}

/// An answer rmcp could not take: a status with a body that is not a
/// JSON-RPC error, or a body that is not JSON-RPC.
fn unexpected(server: &str, method: &str, text: &str) -> McpError {
    // A challenge rmcp could not read (not ASCII): still a 401.
    if text == "invalid www-authenticate header value" {
        return Status {
            status: 401,
            retry_after: None,
            challenge: Some("(not readable: not ASCII)"),
            body: None,
        }
        .error(server, method);
    }
    let shown = |body: &str| shorten(body.trim(), 200);
    // rmcp writes `HTTP <status>: <body>` for a status it does not handle.
    if let Some(rest) = text.strip_prefix("HTTP ")
        && let Some((status, body)) = rest.split_once(": ")
        && let Some(code) = status
            .split_whitespace()
            .next()
            .and_then(|code| code.parse().ok())
    {
        return Status {
            status: code,
            retry_after: None,
            challenge: None,
            body: Some(shown(body)).filter(|body| !body.is_empty()),
        }
        .error(server, method);
    }
    // rmcp's words, then the body: keep the body.
    let body = [": {", ": ["]
        .iter()
        .filter_map(|mark| text.find(mark))
        .min()
        .map_or(text, |at| &text[at + 2..]);
    McpError::NotJsonRpc {
        server: server.to_owned(),
        method: method.to_owned(),
        found: "a body".to_owned(),
        body: Some(shown(body)),
    }
}

/// A server's text on one line, cut at about `bytes`.
fn shorten(text: &str, bytes: usize) -> String {
    let text = crate::printer::one_line(text);
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < text.len() { "…" } else { "" };
    format!("{}{cut}", &text[..end])
}

fn closed(server: &str, method: &str, sent: bool) -> McpError {
    McpError::ConnectionClosed {
        server: server.to_owned(),
        method: method.to_owned(),
        request_sent: sent,
        exit_status: None,
        stderr: Vec::new(),
    }
}

/// The server could not be reached: why, in a few words, and what to do.
fn unreachable(
    server: &str,
    shown: &str,
    error: &(dyn Error + 'static),
    context: &str,
) -> McpError {
    let chained: Vec<String> = chain(error)
        .map(|cause| crate::printer::one_line(&cause.to_string()).into_owned())
        .filter(|text| !text.is_empty())
        .fold(Vec::new(), |mut causes, text| {
            // Wrappers repeat their inner error's text.
            if !causes
                .last()
                .is_some_and(|last: &String| last.contains(&text))
            {
                causes.push(text);
            }
            causes
        });
    // The innermost cause says the most; the rest wrap it.
    let mut causes: Vec<String> = chained.last().cloned().into_iter().collect();
    let host = host_of(shown);
    let (reason, transient, fix) = match tls_problem(error) {
        Some((tls, fix)) => (format!("TLS failed: {tls}"), false, fix.to_owned()),
        None => {
            let all = chained.join(": ").to_ascii_lowercase();
            if all.contains("dns error") || all.contains("failed to lookup") {
                // "Temporary failure in name resolution" may pass; a name
                // that does not exist will not.
                let temporary = all.contains("temporary");
                (
                    format!("the host name `{host}` does not resolve"),
                    temporary,
                    "check the host name in the URL, and the network or VPN".to_owned(),
                )
            } else if all.contains("refused") {
                (
                    format!("nothing listens at `{host}` (connection refused)"),
                    true,
                    "check that the server is running and the port in the URL".to_owned(),
                )
            } else if all.contains("timed out") {
                (
                    format!(
                        "`{host}` did not answer within {}",
                        crate::error::format_duration(CONNECT_TIMEOUT)
                    ),
                    true,
                    "check the network, a firewall, and HTTPS_PROXY/NO_PROXY".to_owned(),
                )
            } else if !context.is_empty() {
                (
                    context.to_owned(),
                    false,
                    "check the URL and SSL_CERT_FILE".to_owned(),
                )
            } else {
                (
                    format!("the connection to `{host}` failed"),
                    true,
                    "check the network, and HTTPS_PROXY/NO_PROXY".to_owned(),
                )
            }
        }
    };
    // A proxy in the way may be what failed.
    let proxy = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .find(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if let Some(name) = proxy.filter(|_| !is_loopback(shown)) {
        causes.push(format!(
            "{name} is set: the connection may have gone to the proxy (NO_PROXY exempts hosts)"
        ));
    }
    McpError::Unreachable {
        server: server.to_owned(),
        url: shown.to_owned(),
        reason,
        transient,
        fix,
        causes,
    }
}

/// What failed in TLS, when TLS did, and what to do about it.
fn tls_problem(error: &(dyn Error + 'static)) -> Option<(String, &'static str)> {
    use rustls::{CertificateError, Error as Tls};
    let tls = chain(error).find_map(|cause| {
        cause.downcast_ref::<Tls>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Tls>())
        })
    })?;
    let check = "check the server's certificate, and SSL_CERT_FILE";
    Some(match tls {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => (
            "the server's certificate is signed by an unknown issuer (not a trusted CA)".to_owned(),
            "if the server uses a private CA, set SSL_CERT_FILE to its certificate (PEM)",
        ),
        Tls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            "the server's certificate is not valid for this host name".to_owned(),
            "use the host name the certificate is for (Details), or fix the server's certificate",
        ),
        Tls::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => (
            "the server's certificate has expired".to_owned(),
            "the server's certificate must be renewed; check this machine's clock too",
        ),
        Tls::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => (
            "the server's certificate is not valid yet".to_owned(),
            "check this machine's clock",
        ),
        other => (
            crate::printer::one_line(&other.to_string()).into_owned(),
            check,
        ),
    })
}

/// An error and its causes, outermost first. An `io::Error` that wraps
/// another is followed into it (its own `source` skips the wrapped one).
fn chain<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

/// The host (and port) of a URL, for messages.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// Whether a plain `http://` URL leaves this machine: its traffic, headers
/// and tokens included, can be read and changed on the way.
pub fn is_plain_remote(url: &str) -> bool {
    url.starts_with("http://") && !is_loopback(url)
}

/// Whether a URL's host is this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(url: &str) -> bool {
    let host = host_of(url);
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_remote_unless_loopback() {
        for local in [
            "http://localhost:3000/mcp",
            "http://127.0.0.1/mcp",
            "http://127.8.9.1:80",
            "http://[::1]:8080/mcp",
            "http://user:pw@localhost/x",
            "http://app.localhost/mcp",
            "https://example.com/mcp",
        ] {
            assert!(!is_plain_remote(local), "{local}");
        }
        for remote in [
            "http://example.com/mcp",
            "http://10.0.0.1:8080",
            "http://[2001:db8::1]/mcp",
            "http://localhost.example.com/",
        ] {
            assert!(is_plain_remote(remote), "{remote}");
        }
    }
}
