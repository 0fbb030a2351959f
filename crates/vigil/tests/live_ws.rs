//! Live view over a WebSocket (`GET /api/cameras/{camera}/live.ws`, what the web UI plays)
//! through the real parts: `vigil run` streaming a camera from the RTSP test bed, a WebSocket
//! client (tungstenite) reading it; what it got is checked with ffprobe/ffmpeg. Also: the token
//! (`?token=`, since a browser's WebSocket can't send a header), the viewer count, and a vigil
//! shutdown ending the socket with a close frame rather than holding it for the grace period.

mod common;
mod rtsp_support;

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rtsp_support::RtspServer;
use serde_json::Value;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const TOKEN: &str = "ws-test-token-51c2";

fn config(dir: &Path, url: &str, server: &str) -> std::path::PathBuf {
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{server}\n\n[defaults]\npre_buffer_secs = 2\n\n[[camera]]\nname = \"door\"\nurl = \"{url}\"\n",
        dir.join("data").display()
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn cameras(addr: &str, token: Option<&str>) -> Value {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (st, _, body) = http(addr, "GET", "/api/cameras", &headers, b"");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body).unwrap()["cameras"][0].clone()
}

fn wait_streaming(addr: &str, token: Option<&str>) {
    poll_until("the camera streaming", Duration::from_secs(40), || {
        let c = cameras(addr, token);
        (c["stream"]["up"] == true && c["live"]["codecs"] != "").then_some(())
    });
}

fn connect(addr: &str, query: &str) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let sock = TcpStream::connect(addr).unwrap();
    let url = format!("ws://{addr}/api/cameras/door/live.ws{query}");
    let (mut ws, resp) = tungstenite::client(url, sock).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => unreachable!("a blocking socket"),
    })?;
    assert_eq!(resp.status(), 101);
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    Ok(ws)
}

/// The first message: `{"codecs", "audio"}`.
fn hello(ws: &mut WebSocket<TcpStream>) -> Value {
    match ws.read().expect("the hello") {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        m => panic!("the first message is not the hello: {m:?}"),
    }
}

#[test]
fn live_ws_streams_the_camera_as_live_mp4_does() {
    let server = RtspServer::start(&[("door", "h264_aac.mp4")]);
    let dir = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&config(dir.path(), &server.url("door"), ""));
    wait_streaming(&run.addr, None);

    let mut ws = connect(&run.addr, "").expect("the WebSocket opens");
    let h = hello(&mut ws);
    assert_eq!(h["audio"], true, "{h}");
    assert!(
        h["codecs"].as_str().unwrap().starts_with("avc1.")
            && h["codecs"].as_str().unwrap().ends_with(",mp4a.40.2"),
        "{h}"
    );
    // Six seconds of it, as a player gets it.
    let mut mp4 = Vec::new();
    let start = Instant::now();
    let mut viewers_seen = false;
    while start.elapsed() < Duration::from_secs(6) {
        match ws.read().expect("the stream goes on") {
            Message::Binary(b) => mp4.extend_from_slice(&b),
            m => panic!("unexpected {m:?}"),
        }
        if !viewers_seen && mp4.len() > 100_000 {
            assert_eq!(cameras(&run.addr, None)["live"]["viewers"], 1);
            viewers_seen = true;
        }
    }
    assert!(viewers_seen, "only {} bytes came", mp4.len());
    ws.close(None).unwrap();
    // Drain to the close handshake's end.
    while ws.read().is_ok() {}
    poll_until("the viewer gone", Duration::from_secs(10), || {
        (cameras(&run.addr, None)["live"]["viewers"] == 0).then_some(())
    });

    let file = dir.path().join("live.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let p = probe(&file);
    let streams = p["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "video and audio: {p}");
    let video = streams
        .iter()
        .position(|s| s["codec_type"] == "video")
        .unwrap() as u64;
    let first = p["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["stream_index"] == video)
        .unwrap();
    assert!(
        first["flags"].as_str().unwrap().starts_with('K'),
        "the first video packet is a keyframe: {first}"
    );
    let errors = decode_errors(&file);
    assert!(errors.trim().is_empty(), "decode errors: {errors}");
    let secs: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(secs > 4.0, "{secs} s of media in 6 s");
    run.stop();
}

#[test]
fn live_ws_needs_the_token_and_is_closed_when_vigil_stops() {
    let server = RtspServer::start(&[("door", "h264.mp4")]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &server.url("door"),
        &format!("api_token = \"{TOKEN}\""),
    );
    let run = RunProcess::start(&cfg);
    wait_streaming(&run.addr, Some(TOKEN));

    for query in ["", "?token=wrong"] {
        match connect(&run.addr, query) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401, "{query}"),
            Err(e) => panic!("{query}: {e}"),
            Ok(_) => panic!("{query}: opened without the token"),
        }
    }
    let mut ws = connect(&run.addr, &format!("?token={TOKEN}")).expect("opens with the token");
    assert!(hello(&mut ws)["codecs"]
        .as_str()
        .unwrap()
        .starts_with("avc1."));
    match ws.read().unwrap() {
        Message::Binary(b) => assert_eq!(&b[4..8], b"ftyp"),
        m => panic!("unexpected {m:?}"),
    }
    // Stopping vigil closes the socket as "going away", and vigil exits cleanly.
    let pid = run.demo.child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let close = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(e) => panic!("no close frame before {e}"),
        }
    };
    // The cameras stop before the HTTP server (docs/data-flow.md), so the stream ends first:
    // "normal"; "going away" if the server's stop got there first.
    let code = close.map(|f| f.code);
    assert!(
        matches!(code, Some(CloseCode::Normal | CloseCode::Away)),
        "{code:?}"
    );
    let mut run = run;
    let st = run.demo.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "vigil run exit: {st}");
}
