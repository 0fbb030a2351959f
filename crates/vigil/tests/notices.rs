//! The notice stream with a subscriber that stops reading: the cameras keep recording, the
//! catalog (a lossless subscriber) has every clip, and the stalled subscriber's drops are counted
//! in `/metrics`, served by the real HTTP server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use vigil::camera::CameraMsg;
use vigil::clips::ClipStatus;
use vigil::runtime::Runtime;
use vigil_core::kind::EventKind;
use vigil_core::recorder::MotionSource;
use vigil_core::time::SystemClock;

fn pulse(rt: &vigil::runtime::RuntimeHandle, camera: &str, secs: u64) {
    let now = rt.clock().monotonic(); // a pulse's end is a deadline
    let sent = rt.camera(camera).unwrap().send(CameraMsg::MotionStart {
        source: MotionSource::Api,
        kind: EventKind::Motion,
        until: Some(now.plus(Duration::from_secs(secs))),
        received: Instant::now(),
        camera_time: None,
    });
    assert!(sent, "{camera}'s worker is running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_loses_notices_but_no_camera_or_catalog_row_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_file_cameras(dir.path());
    let rt = Runtime::start(config, Arc::new(SystemClock)).unwrap();
    let h = rt.handle();
    // Subscribed before anything happens, then never read again: its one slot fills at once.
    let stalled = h.notices().subscribe("stalled", 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = vigil::http::start(listener, h.clone()).unwrap();
    let addr = server.local_addr().to_string();

    const CLIPS: u64 = 3;
    let h2 = h.clone();
    let rows = tokio::task::spawn_blocking(move || {
        for round in 0..CLIPS {
            // Pre-buffers full, then a 1 s pulse on both; wait until both clips are closed.
            poll_until("both buffering", Duration::from_secs(20), || {
                ["a", "b"]
                    .iter()
                    .all(|n| {
                        let s = h2.camera(n).unwrap().status();
                        s.state == "BUFFERING" && s.buffer.duration_secs >= 1.0
                    })
                    .then_some(())
            });
            for n in ["a", "b"] {
                pulse(&h2, n, 1);
            }
            poll_until("both clips closed", Duration::from_secs(20), || {
                ["a", "b"]
                    .iter()
                    .all(|n| {
                        let s = h2.camera(n).unwrap().status();
                        s.recorder.clips_recorded == round + 1
                            && s.recent_clips.len() as u64 == round + 1
                    })
                    .then_some(())
            });
        }
        // The catalog writer is asynchronous: every row is final shortly after.
        poll_until(
            "every clip complete in the catalog",
            Duration::from_secs(10),
            || {
                let rows = h2.catalog().clips(&Default::default()).unwrap();
                (rows.len() as u64 == 2 * CLIPS
                    && rows.iter().all(|r| r.status == ClipStatus::Complete))
                .then_some(rows)
            },
        )
    })
    .await
    .unwrap();
    for r in &rows {
        let f = check_clip(&h.clips_root().join(&r.key));
        assert!(f.first_video_packet_key, "{r:?}");
        assert!(r.pre_roll_secs >= 1.0, "{r:?}");
    }
    let s = stalled.stats();
    assert_eq!(s.delivered, 1, "{s:?}");
    assert!(
        s.dropped > 10,
        "state changes, motion and clips of 6 clips: {s:?}"
    );

    // /metrics over HTTP says so.
    let a = addr.clone();
    let (status, _, body) =
        tokio::task::spawn_blocking(move || http(&a, "GET", "/metrics", &[], b""))
            .await
            .unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let value = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{needle} in /metrics:\n{text}"))
    };
    assert_eq!(
        value("vigil_notice_dropped_total{subscriber=\"stalled\"}"),
        s.dropped as f64
    );
    assert_eq!(
        value("vigil_notice_dropped_total{subscriber=\"catalog\"}"),
        0.0
    );
    assert!(value("vigil_notices_published_total") >= (s.dropped + 1) as f64);

    drop(stalled);
    rt.shutdown().await;
    server.stop(Duration::from_secs(5)).await;
    // The shutdown closed the stream after every camera's last notice: a subscriber made now
    // ends at once, and nothing is left open in the catalog.
    let mut late = h.notices().subscribe("late", 4);
    assert!(late.try_recv().is_none());
    let open: Vec<_> = h
        .catalog()
        .clips(&Default::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.status != ClipStatus::Complete)
        .collect();
    assert!(open.is_empty(), "{open:?}");
}
