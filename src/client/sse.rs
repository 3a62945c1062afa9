//! The legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp no longer
//! has: a GET opens an event stream whose first event, `endpoint`, names
//! where to POST messages; every answer comes on the stream.
//!
//! Failures are reported as rmcp's Streamable HTTP errors, so that one
//! mapping ([`super::http::failure`]) explains both transports.

use std::borrow::Cow;
use std::collections::VecDeque;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use rmcp::RoleClient;
use rmcp::model::{
    ErrorCode, ErrorData, JsonRpcError, JsonRpcMessage, JsonRpcResponse, NumberOrString,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpError,
};

use super::process::MAX_MESSAGE_BYTES;

/// What goes wrong with a legacy server: what rmcp's Streamable HTTP
/// client would report, or a breach of the legacy protocol itself.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// An HTTP failure, as rmcp reports one.
    #[error("{0}")]
    Http(#[source] StreamableHttpError<reqwest::Error>),
    /// The server broke the legacy protocol.
    #[error("{0}")]
    Protocol(String),
}

impl From<StreamableHttpError<reqwest::Error>> for Error {
    fn from(error: StreamableHttpError<reqwest::Error>) -> Self {
        Error::Http(error)
    }
}

impl From<HttpStatusError> for Error {
    fn from(error: HttpStatusError) -> Self {
        Error::Http(error.into())
    }
}

type Http = StreamableHttpError<reqwest::Error>;

/// How long the first event, `endpoint`, is waited for.
const ENDPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An open legacy session.
pub(super) struct LegacySse {
    client: reqwest::Client,
    headers: HeaderMap,
    /// Where messages are POSTed (the `endpoint` event, on the same origin).
    endpoint: reqwest::Url,
    stream: Events,
    /// The requests sent and not answered yet.
    pending: std::collections::HashSet<i64>,
    /// Errors made for answers that cannot be read, for rmcp.
    failed: VecDeque<RxJsonRpcMessage<RoleClient>>,
}

/// Server-sent events, read from a response as they come.
struct Events {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Events parsed and not taken yet: (type, data).
    ready: VecDeque<(String, String)>,
    kind: String,
    data: String,
    /// A line taken out of the buffer to be read.
    line_scratch: Vec<u8>,
}

impl Events {
    /// The next event, `None` at the end of the stream.
    async fn next(&mut self) -> Option<Result<(String, String), Error>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            let chunk = match self.response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return None,
                Err(error) => return Some(Err(Http::Client(error).into())),
            };
            // Only the new bytes are searched: a long line costs its length,
            // not its length times the chunks it came in.
            let mut from = self.buffer.len();
            self.buffer.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(at) = memchr::memchr(b'\n', &self.buffer[from..]) {
                let end = from + at;
                let line = std::mem::take(&mut self.line_scratch);
                self.line_at(start, end, line);
                start = end + 1;
                from = start;
            }
            self.buffer.drain(..start);
            if self.buffer.len() + self.data.len() > MAX_MESSAGE_BYTES {
                return Some(Err(Http::ResponseBodyTooLarge {
                    max_size: MAX_MESSAGE_BYTES,
                }
                .into()));
            }
        }
    }

    /// The line at `start..end` of the buffer (its `\n` at `end`).
    fn line_at(&mut self, start: usize, end: usize, mut scratch: Vec<u8>) {
        scratch.clear();
        scratch.extend_from_slice(&self.buffer[start..end]);
        self.line(&scratch);
        self.line_scratch = scratch;
    }

    /// One line of the stream (its `\n` taken off).
    fn line(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
        if line.is_empty() {
            let kind = std::mem::take(&mut self.kind);
            let data = std::mem::take(&mut self.data);
            if !data.is_empty() {
                self.ready.push_back((kind, data));
            }
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.kind = value.to_owned(),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }
}

/// A response's failure, as rmcp's Streamable HTTP client reports one.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(challenge) = header(WWW_AUTHENTICATE) {
        match status.as_u16() {
            401 => return Err(Http::AuthRequired(AuthRequiredError::new(challenge)).into()),
            403 => {
                let scope = InsufficientScopeError::new(challenge, None);
                return Err(Http::InsufficientScope(scope).into());
            }
            _ => {}
        }
    }
    if status.as_u16() == 429 || status.is_server_error() {
        let retry_after = header(reqwest::header::RETRY_AFTER);
        return Err(HttpStatusError::new(status.as_u16(), retry_after).into());
    }
    let mut body = Vec::new();
    let mut response = response;
    while body.len() < 4096
        && let Ok(Some(chunk)) = response.chunk().await
    {
        body.extend_from_slice(&chunk);
    }
    Err(Http::UnexpectedServerResponse(Cow::Owned(format!(
        "HTTP {}: {}",
        status.as_u16(),
        String::from_utf8_lossy(&body[..body.len().min(4096)])
    )))
    .into())
}

impl LegacySse {
    /// Opens the event stream at `url` and waits for its `endpoint`.
    pub(super) async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: HeaderMap,
    ) -> Result<Self, Error> {
        let base = reqwest::Url::parse(url)
            .map_err(|error| Error::Protocol(format!("the URL does not parse: {error}")))?;
        let response = client
            .get(base.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(Http::Client)?;
        let response = check(response).await?;
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if !kind
            .as_deref()
            .is_some_and(|kind| kind.starts_with("text/event-stream"))
        {
            return Err(Http::UnexpectedContentType(kind).into());
        }
        let mut stream = Events {
            response,
            buffer: Vec::new(),
            ready: VecDeque::new(),
            kind: String::new(),
            data: String::new(),
            line_scratch: Vec::new(),
        };
        let endpoint = async {
            loop {
                match stream.next().await {
                    Some(Ok((kind, data))) if kind == "endpoint" => return Ok(data),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error),
                    None => {
                        return Err(Error::Protocol(
                            "the event stream ended before its `endpoint` event".to_owned(),
                        ));
                    }
                }
            }
        };
        // A legacy server names its endpoint first thing; a stream that
        // does not (a Streamable HTTP server's own) is not one.
        let endpoint = tokio::time::timeout(ENDPOINT_WAIT, endpoint)
            .await
            .map_err(|_| {
                Error::Protocol(format!(
                    "the event stream sent no `endpoint` event within {} s: not a legacy MCP server",
                    ENDPOINT_WAIT.as_secs()
                ))
            })??;
        let endpoint = base.join(endpoint.trim()).map_err(|error| {
            Error::Protocol(format!(
                "the `endpoint` event does not hold a URL ({error})"
            ))
        })?;
        // Messages (and the headers, credentials among them) go nowhere
        // but where the stream came from.
        if endpoint.origin() != base.origin() {
            return Err(Error::Protocol(format!(
                "its `endpoint` event points to another origin ({}), where mcp-cli sends nothing",
                crate::printer::one_line(&endpoint.origin().ascii_serialization())
            )));
        }
        Ok(LegacySse {
            client,
            headers,
            endpoint,
            stream,
            pending: std::collections::HashSet::new(),
            failed: VecDeque::new(),
        })
    }
}

impl LegacySse {
    /// An event that cannot be read: it fails the request it answers (all
    /// of them, when it names none); one that answers nothing sent (a
    /// notification, another id) is skipped, as over stdio.
    fn unreadable(&mut self, data: &str, error: &serde_json::Error) {
        let failed: Vec<i64> = match super::guard::top_level(data.as_bytes()) {
            (_, true) => Vec::new(),
            (super::guard::Id::Wire(id), false) => self.pending.take(&id).into_iter().collect(),
            (super::guard::Id::Other, false) => Vec::new(),
            (super::guard::Id::Absent, false) => self.pending.drain().collect(),
        };
        if failed.is_empty() {
            crate::debug!("legacy SSE: skipped an event that cannot be read ({error})");
        }
        for id in failed {
            self.failed.push_back(JsonRpcMessage::Error(JsonRpcError {
                jsonrpc: Default::default(),
                id: Some(NumberOrString::Number(id)),
                error: ErrorData::new(
                    ErrorCode(-32700),
                    format!("the server's answer cannot be read: {error}"),
                    Some(serde_json::Value::from(super::guard::UNREADABLE)),
                ),
            }));
        }
    }
}

impl Transport<RoleClient> for LegacySse {
    type Error = Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(request) = &item
            && let NumberOrString::Number(id) = request.id
        {
            self.pending.insert(id);
        }
        let request = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(&item);
        async move {
            let response = request.send().await.map_err(Http::Client)?;
            check(response).await.map(drop)
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if let Some(failed) = self.failed.pop_front() {
                return Some(failed);
            }
            match self.stream.next().await? {
                Ok((kind, data)) if kind.is_empty() || kind == "message" => {
                    match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data) {
                        Ok(message) => {
                            if let JsonRpcMessage::Response(JsonRpcResponse {
                                id: NumberOrString::Number(id),
                                ..
                            })
                            | JsonRpcMessage::Error(JsonRpcError {
                                id: Some(NumberOrString::Number(id)),
                                ..
                            }) = &message
                            {
                                self.pending.remove(id);
                            }
                            return Some(message);
                        }
                        Err(error) => self.unreadable(&data, &error),
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    crate::debug!("legacy SSE: the stream broke: {error}");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
