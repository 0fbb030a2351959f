//! `GET /api/cameras/{camera}/live.ws`: the camera's live view over a WebSocket, for the web UI.
//!
//! The same fragmented MP4 as `live.mp4` (`crate::liveview`), one binary message per piece the
//! stream yields (the init segment, then each fragment's boxes), after a first text message
//! `{"codecs": "...", "audio": bool}` (what `live.mp4` says in its `Content-Type`). Why a
//! WebSocket: a browser opens at most six HTTP/1.1 connections to a host and each streaming
//! `fetch()` holds one for good, so a page with six cameras would starve its own API calls;
//! WebSockets don't count against that limit.
//!
//! The socket ends with a close frame: 1000 when the stream ends (new codec parameters, the
//! camera stopped: the page reconnects; at shutdown the cameras stop first, so this is what a
//! viewer usually gets then), 1001 when the HTTP server stops or closes the connection first. Messages from the client
//! are read only to notice a close (pings are answered by the WebSocket layer). A viewer too slow
//! for the stream skips to the next keyframe exactly as on `live.mp4`.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use futures::StreamExt;
use serde_json::json;

use super::cameras::{live_prft, live_socket, subscribe};
use super::{camera, ApiResult};
use crate::http::server::{ConnHandle, ConnHold, ConnSocket};
use crate::http::Http;
use crate::liveview::LiveStream;

/// Nothing the client sends is bigger than a close frame or a ping.
const MAX_INCOMING: usize = 4096;

pub async fn live_ws(
    State(app): State<Http>,
    Path(name): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    upgrade: WebSocketUpgrade,
    socket: Option<Extension<ConnSocket>>,
    conn: Option<Extension<ConnHandle>>,
) -> ApiResult<Response> {
    let cam = camera(&app, &name)?;
    let prft = live_prft(&app, query.as_deref())?;
    live_socket(socket.map(|Extension(s)| s));
    let stream = subscribe(&cam, &name, prft)?;
    let hold = conn.map(|Extension(c)| c.hold());
    Ok(upgrade
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_failed_upgrade(|e| tracing::debug!("live view: WebSocket upgrade failed: {e}"))
        .on_upgrade(move |ws| run(ws, stream, hold)))
}

async fn run(mut ws: WebSocket, mut stream: LiveStream, hold: Option<ConnHold>) {
    let hello = json!({ "codecs": stream.codecs(), "audio": stream.has_audio() }).to_string();
    if ws.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    let shutdown = async {
        match &hold {
            Some(h) => h.closed().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(shutdown);
    let close = loop {
        tokio::select! {
            piece = stream.next() => match piece {
                Some(Ok(bytes)) => {
                    if ws.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                Some(Err(never)) => match never {},
                None => break (1000, "the stream ended"),
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            () = &mut shutdown => break (1001, "vigil is shutting down"),
        }
    };
    let frame = CloseFrame {
        code: close.0,
        reason: close.1.into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
}
