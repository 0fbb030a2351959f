//! A camera's RTSP server dies mid-recording and comes back: the open clip is closed valid, the
//! source reconnects by itself (with backoff), the next motion is recorded. A second camera on
//! another server, sharing the tokio runtime, doesn't notice any of it.

mod common;
mod rtsp_support;

use std::time::{Duration, Instant};

use rtsp_support::*;
use vigil::notice::Notice;
use vigil_core::recorder::State;

#[test]
fn rtsp_server_killed_and_restarted_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let mut server_a = RtspServer::start(&[("a", "h264_aac.mp4")]);
    let server_b = RtspServer::start(&[("b", "h265_open.mp4")]);
    let rt = runtime();

    let cam_a = Camera::start("a", dir.path(), quick_settings());
    let cam_b = Camera::start("b", dir.path(), quick_settings());
    let (send_a, seen_a) = tap(Some(cam_a.sender()));
    let (send_b, seen_b) = tap(Some(cam_b.sender()));
    let mut ingest_a = Ingest::start(&rt, test_config(&server_a.url("a")), send_a);
    let mut ingest_b = Ingest::start(&rt, test_config(&server_b.url("b")), send_b);

    // Both up; let A's pre-buffer fill past its 2 s window.
    for seen in [&seen_a, &seen_b] {
        collect_until(seen, Duration::from_secs(15), |(_, s)| {
            matches!(s, Seen::Params(_))
        });
    }
    let _ = collect_for(&seen_a, Duration::from_millis(2500));

    // Motion on A, then A's server dies mid-clip.
    cam_a.motion_start();
    cam_a.wait_notice(Duration::from_secs(5), |n| {
        matches!(n, Notice::ClipOpened(_))
    });
    let _ = collect_for(&seen_a, Duration::from_millis(1500));
    let killed = Instant::now();
    server_a.kill();

    let lost = collect_until(&seen_a, Duration::from_secs(10), |(_, s)| {
        matches!(s, Seen::Lost(_))
    });
    let (lost_at, Seen::Lost(why)) = lost.last().unwrap() else {
        unreachable!()
    };
    assert!(
        *lost_at - killed < Duration::from_secs(4),
        "Lost {:?} after the kill ({why})",
        *lost_at - killed
    );
    let first = cam_a.wait_clip_closed(Duration::from_secs(10));
    assert_eq!(first.close_reason, Some("stream_lost"));
    let facts = common::check_clip(&first.path);
    assert!(facts.first_video_packet_key);
    assert_eq!(facts.audio_codec.as_deref(), Some("aac"));
    assert!(facts.duration >= 3.0, "clip lasts {:.2} s", facts.duration);
    cam_a.wait_notice(Duration::from_secs(5), |n| {
        matches!(
            n,
            Notice::State {
                to: State::Idle,
                ..
            }
        )
    });
    cam_a.motion_end();

    // Down for a while: the source keeps trying, with backoff.
    let attempts_before = ingest_a.stats.snapshot().attempts;
    let _ = collect_for(&seen_a, Duration::from_secs(2));
    let down = ingest_a.stats.snapshot();
    assert!(!down.connected);
    let tries = down.attempts - attempts_before;
    assert!(
        (1..=4).contains(&tries),
        "{tries} attempts in 2 s while down"
    );
    assert!(down.last_error.is_some());

    // Back: the source reconnects by itself and sends Params again.
    server_a.restart();
    let back = collect_until(&seen_a, Duration::from_secs(15), |(_, s)| {
        matches!(s, Seen::Params(_))
    });
    assert!(back.iter().all(|(_, s)| !matches!(s, Seen::Packet(_))));
    let up = ingest_a.stats.snapshot();
    assert!(up.connected);
    assert_eq!((up.sessions, up.reconnects), (2, 1));

    // The next motion is recorded.
    let _ = collect_for(&seen_a, Duration::from_millis(2500));
    cam_a.motion_start();
    let _ = collect_for(&seen_a, Duration::from_secs(2));
    cam_a.motion_end();
    let second = cam_a.wait_clip_closed(Duration::from_secs(15));
    assert_ne!(second.path, first.path);
    let facts = common::check_clip(&second.path);
    assert!(facts.first_video_packet_key);
    assert_eq!(facts.audio_codec.as_deref(), Some("aac"));

    // B saw none of it: one session, packets all along.
    ingest_a.stop();
    ingest_b.stop();
    let b: Vec<_> = std::iter::from_fn(|| seen_b.try_recv().ok()).collect();
    assert!(b.iter().all(|(_, s)| !matches!(s, Seen::Lost(_))));
    let gap = longest_gap(&b);
    assert!(
        gap < Duration::from_secs(1),
        "camera b waited {gap:?} for a packet"
    );
    let stats_b = ingest_b.stats.snapshot();
    assert_eq!((stats_b.sessions, stats_b.reconnects), (1, 0));
    assert!(stats_b.video_packets > 300, "{stats_b:?}");
    drop(cam_b);
}
