//! The transport under rmcp: its JSON-lines transport on a server's pipes,
//! with request ids a server cannot guess.
//!
//! rmcp numbers requests 0, 1, 2... and takes a response for the pending
//! request of the same id. So a server could write an answer for an id it
//! has not been sent yet (right after `initialize`, say), to be taken for
//! the answer to the call that follows. Here each request goes out under
//! an id made from rmcp's with a keyed hash (SipHash, a random key per
//! connection), below 2^53 so that JavaScript servers keep it exact; an
//! answer is handed to rmcp under its own id only when it names one that
//! was sent, and dropped otherwise. `notifications/cancelled` names the
//! request by the id that went out.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};

use rmcp::RoleClient;
use rmcp::model::{ClientNotification, JsonRpcMessage, NumberOrString, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

/// The largest integer JavaScript's numbers hold exactly.
const SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A transport whose requests carry unguessable ids.
pub struct Guarded<T> {
    inner: T,
    key: RandomState,
    /// The requests sent and not answered yet: wire id → rmcp's id.
    pending: HashMap<i64, RequestId>,
    server: String,
}

impl<T> Guarded<T> {
    /// Guards `inner`, the transport of the server called `server`.
    pub fn new(inner: T, server: &str) -> Self {
        Guarded {
            inner,
            key: RandomState::new(),
            pending: HashMap::new(),
            server: server.to_owned(),
        }
    }

    /// The id request `id` goes out under.
    fn wire_id(&self, id: &RequestId) -> i64 {
        // Below 2^53: the cast is exact.
        (self.key.hash_one(id) & SAFE_INTEGER) as i64
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Guarded<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        match &mut item {
            JsonRpcMessage::Request(request) => {
                let wire = self.wire_id(&request.id);
                let id = std::mem::replace(&mut request.id, NumberOrString::Number(wire));
                self.pending.insert(wire, id);
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &mut notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    let wire = self.wire_id(id);
                    cancelled.params.request_id = Some(NumberOrString::Number(wire));
                }
            }
            // Answers to the server's own requests keep the server's ids.
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let mut message = self.inner.receive().await?;
            let id = match &mut message {
                JsonRpcMessage::Response(response) => Some(&mut response.id),
                JsonRpcMessage::Error(error) => error.id.as_mut(),
                JsonRpcMessage::Request(_) | JsonRpcMessage::Notification(_) => None,
            };
            if let Some(id) = id {
                let ours = match id {
                    NumberOrString::Number(wire) => self.pending.remove(wire),
                    NumberOrString::String(_) => None,
                };
                let Some(ours) = ours else {
                    crate::debug!(
                        "{}: dropped an answer to request {id}, which was never sent",
                        self.server
                    );
                    continue;
                };
                *id = ours;
            }
            return Some(message);
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
