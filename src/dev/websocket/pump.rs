//! One connection's frames: a pump task per socket moves frames between the
//! peer and the socket's queue, and queues incoming frames as `websocket`
//! events that the owner (a pinned instance or a Durable Object) runs.

use std::sync::Weak;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::{MAX_MESSAGE, Out, Owner, Receiver};
use crate::dev::pool::Generation;

/// The framing configuration for the server side of an upgraded connection.
pub fn server_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE))
}

/// One event for a socket's owner.
enum Event {
    Message {
        binary: bool,
        data: Vec<u8>,
    },
    Close {
        code: u16,
        reason: String,
        clean: bool,
    },
    Error(String),
}

/// Move frames between the peer and socket `id` until either side closes.
pub async fn pump<S>(
    generation: Weak<Generation>,
    id: u64,
    mut ws: WebSocketStream<S>,
    rx: Receiver,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut rx = rx.0;
    let mut closing = false;
    loop {
        tokio::select! {
            out = rx.recv(), if !closing => {
                let msg = match out {
                    Some(Out::Text(t)) => Message::text(t),
                    Some(Out::Binary(b)) => Message::binary(b),
                    Some(Out::Close(code, reason)) => {
                        closing = true;
                        Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))
                    }
                    // The generation is gone: nothing can answer any more.
                    None => Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "".into() })),
                };
                if ws.send(msg).await.is_err() {
                    deliver(&generation, id, Event::Close { code: 1006, reason: "WebSocket disconnected without sending Close frame.".into(), clean: false }).await;
                    break;
                }
            }
            incoming = ws.next() => {
                let event = match incoming {
                    Some(Ok(Message::Text(t))) => {
                        let text = t.as_str().to_string();
                        if let Some(g) = generation.upgrade()
                            && g.sockets.auto_response(id, &text).is_some()
                        {
                            continue;
                        }
                        Event::Message { binary: false, data: text.into_bytes() }
                    }
                    Some(Ok(Message::Binary(b))) => Event::Message { binary: true, data: b.to_vec() },
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.as_str().to_string()))
                            .unwrap_or((1005, String::new()));
                        // tungstenite answers the Close frame itself.
                        let _ = ws.flush().await;
                        deliver(&generation, id, Event::Close { code, reason, clean: true }).await;
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) if !matches!(e, tokio_tungstenite::tungstenite::Error::ConnectionClosed | tokio_tungstenite::tungstenite::Error::AlreadyClosed | tokio_tungstenite::tungstenite::Error::Protocol(_) | tokio_tungstenite::tungstenite::Error::Io(_)) => {
                        deliver(&generation, id, Event::Error(e.to_string())).await;
                        deliver(&generation, id, Event::Close { code: 1009, reason: e.to_string(), clean: false }).await;
                        break;
                    }
                    _ => {
                        deliver(&generation, id, Event::Close { code: 1006, reason: "WebSocket disconnected without sending Close frame.".into(), clean: false }).await;
                        break;
                    }
                };
                deliver(&generation, id, event).await;
            }
        }
    }
    if let Some(g) = generation.upgrade() {
        g.sockets.pump_ended(id);
    }
}

/// Queue `event` for the socket's owner and have the owner run what is
/// queued (on a blocking thread, once the owner is free). A handler that is
/// awaiting the socket while it runs takes the event earlier (`ws.poll`).
async fn deliver(generation: &Weak<Generation>, id: u64, event: Event) {
    let Some(generation) = generation.upgrade() else {
        return;
    };
    let mut header = json!({"v": 1, "kind": "websocket", "socket": id});
    let body = match event {
        Event::Message { binary, data } => {
            header["event"] = json!("message");
            header["binary"] = json!(binary);
            data
        }
        Event::Close {
            code,
            reason,
            clean,
        } => {
            header["event"] = json!("close");
            header["code"] = json!(code);
            header["reason"] = json!(reason);
            header["wasClean"] = json!(clean);
            Vec::new()
        }
        Event::Error(message) => {
            header["event"] = json!("error");
            header["message"] = json!(message);
            Vec::new()
        }
    };
    if let Owner::Object {
        class,
        id: oid,
        hibernatable,
    } = generation.sockets.owner_of(id)
    {
        header["class"] = json!(class);
        header["id"] = json!(oid);
        header["hibernatable"] = json!(hibernatable);
    }
    let Some(owner) = generation.sockets.push(id, header, body) else {
        return;
    };
    if owner == Owner::None {
        return;
    }
    let g = generation.clone();
    tokio::task::spawn_blocking(move || drain(&g, &owner));
}

/// Run every queued event of `owner` on its instance. A hibernatable
/// object with a zero hibernation delay runs one event per instance and is
/// evicted after each, so an event that arrives while the previous one is
/// still running also gets a rebuilt object, as `0` promises.
fn drain(g: &std::sync::Arc<Generation>, owner: &Owner) {
    if !g.sockets.has_pending(owner) {
        return;
    }
    let run = |inst: &mut pywrangler_runtime::Instance, one: bool| {
        while let Some((header, body)) = g.sockets.pop(owner) {
            if let Err(e) = inst.invoke(&header, &body) {
                let info =
                    crate::dev::server::event_error_info(&crate::dev::pool::EventError::Invoke(e));
                crate::dev::server::report_to_terminal(&info);
                if !inst.is_usable() {
                    break;
                }
            }
            if one {
                break;
            }
        }
        g.sockets.forget_finished();
        Ok(())
    };
    let result = match owner {
        Owner::None => Ok(()),
        Owner::Instance(instance) => g.run_pinned(*instance, "[ws] ", |inst| run(inst, false)),
        Owner::Object {
            class,
            id,
            hibernatable,
        } => loop {
            let evict = *hibernatable
                && g.sockets.hibernate_after.is_zero()
                && !g.sockets.object_has_plain_sockets(class, id);
            let label = format!("[{class}:{}] ", &id[..8.min(id.len())]);
            let r = g.run_object_then(class, id, &label, evict, |inst| run(inst, evict));
            if *hibernatable && !evict {
                g.schedule_hibernation(class, id);
            }
            if r.is_err() || !evict || !g.sockets.has_pending(owner) {
                break r;
            }
        },
    };
    if let Err(e) = result {
        crate::printer::warn(format!("WebSocket event handler failed: {e}"));
    }
}
