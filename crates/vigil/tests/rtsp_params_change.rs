//! New codec parameters mid-stream (the camera switches resolution: a new SPS in-band at a
//! keyframe): the source sends `Params` right before that keyframe, and a recording rolls over
//! to a new clip there; both clips are valid and each has its own resolution.

mod common;
mod rtsp_support;

use std::time::Duration;

use rtsp_support::*;

fn width_of(s: &Seen) -> Option<u16> {
    match s {
        Seen::Params(p) => Some(p.video.width),
        _ => None,
    }
}

#[test]
fn rtsp_new_parameters_mid_stream_start_a_new_clip() {
    let dir = tempfile::tempdir().unwrap();
    // 5 s at 320x240, then 5 s at 480x360, looped.
    let server = RtspServer::start(&[("cam", "h264_resize.mp4")]);
    let rt = runtime();
    let cam = Camera::start("cam", dir.path(), quick_settings());
    let (send, seen) = tap(Some(cam.sender()));
    let _ingest = Ingest::start(&rt, test_config(&server.url("cam")), send);

    let first = collect_until(&seen, Duration::from_secs(15), |(_, s)| {
        width_of(s).is_some()
    });
    assert_eq!(width_of(&first.last().unwrap().1), Some(320));
    // The switch to 480x360: Params, then a keyframe at once.
    let before = collect_until(&seen, Duration::from_secs(10), |(_, s)| {
        width_of(s) == Some(480)
    });
    assert!(before.len() > 100, "packets before the switch");
    let after = collect_until(&seen, Duration::from_secs(2), |(_, s)| {
        matches!(s, Seen::Packet(_))
    });
    let Some((_, Seen::Packet(p))) = after.last() else {
        unreachable!()
    };
    assert!(p.keyframe, "the packet after new Params is a keyframe");

    // Motion over the next switch (back to 320x240, 5 s later): two clips.
    let _ = collect_for(&seen, Duration::from_millis(2500));
    cam.motion_start();
    collect_until(&seen, Duration::from_secs(5), |(_, s)| {
        width_of(s) == Some(320)
    });
    let _ = collect_for(&seen, Duration::from_secs(1));
    cam.motion_end();
    let a = cam.wait_clip_closed(Duration::from_secs(10));
    let b = cam.wait_clip_closed(Duration::from_secs(10));
    assert_eq!(
        a.event, b.event,
        "both clips belong to the one motion event"
    );
    for (rec, w, h) in [(&a, 480, 360), (&b, 320, 240)] {
        let facts = common::check_clip(&rec.path);
        assert!(facts.first_video_packet_key);
        assert_eq!(
            (facts.width, facts.height),
            (w, h),
            "{}",
            rec.path.display()
        );
        assert_eq!((rec.width, rec.height), (w as u16, h as u16));
    }
    // Back to back: the second starts where the first ended.
    let (Some(end), Some(start)) = (a.end, b.start) else {
        panic!("clip times: {a:?} {b:?}")
    };
    assert!(start.micros_since(end).abs() < 100_000, "{end} .. {start}");
}
