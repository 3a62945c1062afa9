//! `--http-fault oauth:TTL[:KIND]`: the HTTP front end is its own OAuth
//! authorization server, and `/mcp` wants its tokens.
//!
//! - `/.well-known/oauth-protected-resource/mcp` names this server as the
//!   authorization server; `/.well-known/oauth-authorization-server` has
//!   its endpoints (S256, `none` and `client_secret_post`, `offline_access`).
//! - `/register` registers any client; `/authorize` redirects at once to the
//!   `redirect_uri` with a code, the `state` and `iss` (with KIND `badstate`:
//!   another `state`); `/token` takes `authorization_code`, `refresh_token`
//!   (each refresh token works once: a new one comes with each refresh) and
//!   `client_credentials` (secret `tok-SECRET`).
//! - Access tokens live TTL seconds. A request to `/mcp` without a live
//!   one gets 401 and a challenge naming the resource metadata.
//! - With a file `revoked` in the state directory, refresh tokens are
//!   refused (`invalid_grant`).
//!
//! Every token, code and secret starts with `tok-`, so that a test can
//! look for them in mcp-cli's output. `http.log` gets `token <grant>
//! <status>` and `authorize` lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

/// What the authorization server has issued.
#[derive(Default)]
pub struct State {
    next: u64,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, ()>,
    codes: HashMap<String, ()>,
}

/// What an OAuth route answers: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

pub struct Server<'a> {
    pub state: &'a Mutex<State>,
    pub ttl: Duration,
    pub kind: Option<&'a str>,
    pub dir: Option<&'a std::path::Path>,
    /// `http://host:port` as the client reached it.
    pub base: String,
}

fn query(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), decode(value)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                at += 2;
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_answer(status: u16, value: serde_json::Value) -> Answer {
    (
        status,
        vec![("Content-Type", "application/json".to_owned())],
        value.to_string(),
    )
}

impl Server<'_> {
    fn issue(&self, state: &mut State, refresh: bool) -> serde_json::Value {
        state.next += 1;
        let access = format!("tok-ACCESS-{}", state.next);
        state.access.insert(access.clone(), Instant::now());
        let mut token = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ttl.as_secs(),
            "scope": "mcp",
        });
        if refresh {
            let refresh = format!("tok-REFRESH-{}", state.next);
            state.refresh.insert(refresh.clone(), ());
            token["refresh_token"] = json!(refresh);
        }
        token
    }

    /// The answer of an OAuth route, or `None` for `/mcp` with a live
    /// token (served as usual), or `Some` 401 for `/mcp` without.
    pub fn route(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HashMap<String, String>,
        body: &[u8],
        record: &dyn Fn(&str),
    ) -> Option<Answer> {
        let (path, query_text) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let base = &self.base;
        match (method, path) {
            ("GET", "/.well-known/oauth-protected-resource/mcp")
            | ("GET", "/.well-known/oauth-protected-resource") => Some(json_answer(
                200,
                json!({
                    "resource": format!("{base}/mcp"),
                    "authorization_servers": [base],
                    "scopes_supported": ["mcp"],
                }),
            )),
            ("GET", "/.well-known/oauth-authorization-server") => Some(json_answer(
                200,
                json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "registration_endpoint": format!("{base}/register"),
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
                    "scopes_supported": ["mcp", "offline_access"],
                }),
            )),
            ("GET", path) if path.starts_with("/.well-known/") => {
                Some((404, Vec::new(), "not found".to_owned()))
            }
            ("POST", "/register") => {
                let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let mut state = self.state.lock().unwrap();
                state.next += 1;
                Some(json_answer(
                    201,
                    json!({
                        "client_id": format!("client-{}", state.next),
                        "redirect_uris": request.get("redirect_uris").cloned().unwrap_or_default(),
                        "token_endpoint_auth_method": "none",
                    }),
                ))
            }
            ("GET", "/authorize") => {
                let params = query(query_text);
                record("authorize");
                let mut state = self.state.lock().unwrap();
                state.next += 1;
                let code = format!("tok-CODE-{}", state.next);
                state.codes.insert(code.clone(), ());
                let returned = if self.kind == Some("badstate") {
                    "forged".to_owned()
                } else {
                    params.get("state").cloned().unwrap_or_default()
                };
                let encode = |text: &str| {
                    text.bytes()
                        .map(|byte| match byte {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                                (byte as char).to_string()
                            }
                            _ => format!("%{byte:02X}"),
                        })
                        .collect::<String>()
                };
                let location = format!(
                    "{}?code={code}&state={}&iss={}",
                    params.get("redirect_uri").cloned().unwrap_or_default(),
                    encode(&returned),
                    encode(base)
                );
                Some((302, vec![("Location", location)], String::new()))
            }
            ("POST", "/token") => {
                let params = query(&String::from_utf8_lossy(body));
                let grant = params.get("grant_type").cloned().unwrap_or_default();
                let mut state = self.state.lock().unwrap();
                let answer = match grant.as_str() {
                    "authorization_code" => {
                        let code = params.get("code").cloned().unwrap_or_default();
                        if state.codes.remove(&code).is_some()
                            && params.contains_key("code_verifier")
                        {
                            json_answer(200, self.issue(&mut state, true))
                        } else {
                            json_answer(400, json!({"error": "invalid_grant"}))
                        }
                    }
                    "refresh_token" => {
                        let refresh = params.get("refresh_token").cloned().unwrap_or_default();
                        let revoked = self.dir.is_some_and(|dir| dir.join("revoked").exists());
                        if !revoked && state.refresh.remove(&refresh).is_some() {
                            json_answer(200, self.issue(&mut state, true))
                        } else {
                            json_answer(400, json!({"error": "invalid_grant"}))
                        }
                    }
                    "client_credentials" => {
                        if params.get("client_secret").map(String::as_str) == Some("tok-SECRET") {
                            json_answer(200, self.issue(&mut state, false))
                        } else {
                            json_answer(401, json!({"error": "invalid_client"}))
                        }
                    }
                    _ => json_answer(400, json!({"error": "unsupported_grant_type"})),
                };
                record(&format!("token {grant} {}", answer.0));
                Some(answer)
            }
            (_, "/mcp") => {
                let token = headers
                    .get("authorization")
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .unwrap_or_default();
                let live = self
                    .state
                    .lock()
                    .unwrap()
                    .access
                    .get(token)
                    .is_some_and(|issued| issued.elapsed() < self.ttl);
                if live {
                    return None;
                }
                Some((
                    401,
                    vec![(
                        "WWW-Authenticate",
                        format!(
                            r#"Bearer error="invalid_token", resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
                        ),
                    )],
                    "unauthorized".to_owned(),
                ))
            }
            _ => None,
        }
    }
}
