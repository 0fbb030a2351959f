//! UDP transport, selected per camera: the stream flows and records; a server that vanishes
//! (UDP says nothing when it does) is noticed by the stall timeout.

mod common;
mod rtsp_support;

use std::time::{Duration, Instant};

use rtsp_support::*;
use vigil::ingest::rtsp::Transport;
use vigil_core::packet::TrackKind;

#[test]
fn rtsp_udp_transport() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RtspServer::start(&[("cam", "h264_aac.mp4")]);
    let rt = events_runtime();
    let cam = Camera::start("cam", dir.path(), quick_settings());
    let (send, seen) = tap(Some(cam.sender()));
    let mut cfg = test_config(&server.url("cam"));
    cfg.transport = Transport::Udp;
    let ingest = Ingest::start(&rt, cfg, send);

    collect_until(&seen, Duration::from_secs(15), |(_, s)| {
        matches!(s, Seen::Params(_))
    });
    let window = collect_for(&seen, Duration::from_secs(3));
    let video = packets(&window, TrackKind::Video);
    let audio = packets(&window, TrackKind::Audio);
    assert!(
        video.len() >= 80 && audio.len() >= 100,
        "{} video, {} audio",
        video.len(),
        audio.len()
    );
    assert!(video[0].1.keyframe);

    cam.motion_start();
    let _ = collect_for(&seen, Duration::from_secs(2));
    cam.motion_end();
    let rec = cam.wait_clip_closed(Duration::from_secs(15));
    let facts = common::check_clip(&rec.path);
    assert!(facts.first_video_packet_key);
    assert_eq!(facts.audio_codec.as_deref(), Some("aac"));

    // The server vanishes: no FIN, no RST on UDP; the stall timeout (3 s here) ends the session.
    let killed = Instant::now();
    server.kill();
    let lost = collect_until(&seen, Duration::from_secs(10), |(_, s)| {
        matches!(s, Seen::Lost(_))
    });
    let (at, Seen::Lost(why)) = lost.last().unwrap() else {
        unreachable!()
    };
    assert!(*at - killed < Duration::from_secs(6), "{:?}", *at - killed);
    assert!(why.contains("no frame") || why.contains("ended"), "{why}");
    assert!(ingest.stats.snapshot().lost_rtp_packets < 10);
}
