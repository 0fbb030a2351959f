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

/// The boxes of `buf` at one level: (type, body).
fn boxes(mut buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 8 {
        let size = u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && size <= buf.len(),
            "a box of {size} bytes in {}",
            buf.len()
        );
        out.push((buf[4..8].try_into().unwrap(), &buf[8..size]));
        buf = &buf[size..];
    }
    assert!(buf.is_empty(), "{} stray bytes", buf.len());
    out
}

/// `?prft=1`: a `prft` before every fragment, naming its track and `tfdt`, with a wall-clock
/// time near now; the stream still decodes. A bad value is refused.
#[test]
fn live_ws_prft_times_every_fragment() {
    let server = RtspServer::start(&[("door", "h264_aac.mp4")]);
    let dir = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&config(dir.path(), &server.url("door"), ""));
    wait_streaming(&run.addr, None);
    let (st, _, body) = http(
        &run.addr,
        "GET",
        "/api/cameras/door/live.mp4?prft=yes",
        &[],
        b"",
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));

    let mut ws = connect(&run.addr, "?prft=1").expect("opens");
    hello(&mut ws);
    let mut mp4 = Vec::new();
    let mut arrivals = Vec::new(); // (wall µs at arrival, offset in mp4)
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        if let Message::Binary(b) = ws.read().unwrap() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64;
            arrivals.push((now, mp4.len()));
            mp4.extend_from_slice(&b);
        }
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    let top = boxes(&mp4);
    let mut offset = 0;
    let mut prfts = 0;
    let mut last_video_ntp = 0u64;
    for (i, (kind, body)) in top.iter().enumerate() {
        let at = offset;
        offset += body.len() + 8;
        if kind != b"moof" {
            continue;
        }
        let (pk, p) = top[i - 1];
        assert_eq!(&pk, b"prft", "box {i}: a moof without its prft");
        prfts += 1;
        let track = u32::from_be_bytes(p[4..8].try_into().unwrap());
        let ntp = u64::from_be_bytes(p[8..16].try_into().unwrap());
        let media = u64::from_be_bytes(p[16..24].try_into().unwrap());
        let traf = boxes(body)
            .into_iter()
            .find(|(k, _)| k == b"traf")
            .unwrap()
            .1;
        let inner = boxes(traf);
        let tfhd = inner.iter().find(|(k, _)| k == b"tfhd").unwrap().1;
        let tfdt = inner.iter().find(|(k, _)| k == b"tfdt").unwrap().1;
        assert_eq!(u32::from_be_bytes(tfhd[4..8].try_into().unwrap()), track);
        assert_eq!(tfdt[0], 1, "tfdt version 1");
        assert_eq!(u64::from_be_bytes(tfdt[4..12].try_into().unwrap()), media);
        // The packet's time, as wall clock, a little before its fragment arrived here.
        let wall_us = ((ntp >> 32) as i64 - 2_208_988_800) * 1_000_000
            + (((ntp & 0xffff_ffff) * 1_000_000) >> 32) as i64;
        let arrived = arrivals
            .iter()
            .rev()
            .find(|(_, o)| *o <= at)
            .map(|(t, _)| *t)
            .unwrap();
        let lead = arrived - wall_us;
        assert!(
            (-2_000_000..3_000_000).contains(&lead),
            "prft {wall_us} µs, arrived {arrived} µs"
        );
        if track == 1 {
            assert!(ntp > last_video_ntp, "video times increase");
            last_video_ntp = ntp;
        }
    }
    assert!(prfts > 100, "{prfts} fragments in 4 s");
    let file = dir.path().join("prft.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let errors = decode_errors(&file);
    assert!(errors.trim().is_empty(), "decode errors: {errors}");
    run.stop();
}
