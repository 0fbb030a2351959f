//! ORIGIN.md's overlapping-event scenarios, rollover and stream loss through the real pipeline,
//! with the resulting files checked by ffprobe/ffmpeg.

mod common;

use common::*;
use vigil::notice::Notice;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;

fn settings() -> RecordingSettings {
    RecordingSettings {
        pre_buffer_secs: 3,
        post_buffer_secs: 4,
        ..RecordingSettings::default()
    }
}

fn overlaps(cam: &SimCamera) -> usize {
    cam.notices
        .iter()
        .filter(|n| matches!(n, Notice::MotionOverlap { .. }))
        .count()
}

#[test]
fn motion_during_active_recording_extends_the_same_clip() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264, settings(), dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(6.0);
    cam.pulse(MotionSource::Api, 2.0);
    cam.run_until(7.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(16.0);
    assert_eq!(cam.closed.len(), 1, "{:#?}", cam.closed);
    assert_eq!(overlaps(&cam), 1);
    // Motion lasted until the pulse ended at 8 s; post-roll 4 s; pre-roll 3 s from 5 s.
    let f = check_clip(&cam.closed[0].path);
    assert!(f.first_video_packet_key);
    assert!(
        (f.duration - 10.0).abs() <= GOP_SECS + 0.05,
        "{}",
        f.duration
    );
}

#[test]
fn motion_during_post_roll_returns_to_recording_in_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H265, settings(), dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(6.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(8.0); // 2 s into a 4 s post-roll
    assert!(cam.closed.is_empty());
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(9.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(20.0);
    assert_eq!(cam.closed.len(), 1, "{:#?}", cam.closed);
    assert_eq!(overlaps(&cam), 1);
    let f = check_clip(&cam.closed[0].path);
    // 2 s .. 13 s: pre-roll 3 + motion to 9 + post-roll 4.
    assert!(
        (f.duration - 11.0).abs() <= GOP_SECS + 0.05,
        "{}",
        f.duration
    );
}

#[test]
fn motion_after_the_clip_closed_opens_a_new_file_with_no_repeated_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264_AAC, settings(), dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(6.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(11.5); // closed at the keyframe at 10 s
    assert_eq!(cam.closed.len(), 1);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(12.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(20.0);
    assert_eq!(cam.closed.len(), 2, "{:#?}", cam.closed);
    let (a, b) = (&cam.closed[0], &cam.closed[1]);
    assert_ne!(a.path, b.path);
    assert_ne!(a.event, b.event);
    // The second clip's pre-roll starts where the first clip ended: back to back, no overlap.
    let (a_end, b_start) = (a.end.unwrap(), b.start.unwrap());
    assert!(
        b_start.micros_since(a_end).abs() <= 1_000,
        "first ends {a_end}, second starts {b_start}"
    );
    assert!(
        b.pre_roll_secs > 1.0 && b.pre_roll_secs < 3.0,
        "{}",
        b.pre_roll_secs
    );
    for r in [a, b] {
        assert!(check_clip(&r.path).first_video_packet_key);
    }
}

#[test]
fn long_recording_rolls_over_at_keyframes_without_losing_frames() {
    let dir = tempfile::tempdir().unwrap();
    let s = RecordingSettings {
        max_clip_secs: 4,
        ..settings()
    };
    let mut cam = SimCamera::new(SAMPLE_H264, s, dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(15.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(25.0);
    // 2 s .. 19 s = 17 s in files of at most 4 s.
    assert!(cam.closed.len() >= 4, "{:#?}", cam.closed);
    let event = cam.closed[0].event;
    let mut frames = 0;
    for w in cam.closed.windows(2) {
        assert_eq!(w[1].event, event, "all files belong to one event");
        let gap = w[1].start.unwrap().micros_since(w[0].end.unwrap());
        assert!(gap.abs() <= 1_000, "files are back to back: gap {gap} us");
    }
    for r in &cam.closed {
        let f = check_clip(&r.path);
        assert!(f.first_video_packet_key);
        assert!(f.duration <= 4.0 + GOP_SECS + 0.05, "{}", f.duration);
        frames += f.video_packets;
    }
    let total = cam
        .closed
        .last()
        .unwrap()
        .end
        .unwrap()
        .secs_since(cam.closed[0].start.unwrap());
    assert_eq!(
        frames as f64,
        (total * 30.0).round(),
        "every frame exactly once"
    );
}

#[test]
fn stream_lost_while_recording_closes_a_valid_clip_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264_AAC, settings(), dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(7.5);
    cam.lose_stream("test: server gone");
    assert_eq!(cam.closed.len(), 1);
    assert_eq!(cam.closed[0].close_reason, Some("stream_lost"));
    assert!(check_clip(&cam.closed[0].path).first_video_packet_key);
    // Packets that arrive while down are dropped; the stream comes back and motion is still on.
    cam.run_until(9.0);
    let params = cam.source.params();
    cam.pipeline
        .on_source(vigil::ingest::SourceEvent::Params(params), cam.clocks());
    cam.run_until(12.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(20.0);
    assert_eq!(cam.closed.len(), 2, "{:#?}", cam.closed);
    assert_eq!(
        cam.closed[1].event, cam.closed[0].event,
        "same event continues"
    );
    assert!(check_clip(&cam.closed[1].path).first_video_packet_key);
}

#[test]
fn a_clip_that_never_got_a_keyframe_is_discarded_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264, settings(), dir.path());
    cam.run_until(5.0);
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(6.0);
    cam.lose_stream("first drop");
    // Back mid-GOP (at 6.5 s): the reopened clip waits for a keyframe and the stream drops again.
    cam.run_until(6.5);
    let params = cam.source.params();
    cam.pipeline
        .on_source(vigil::ingest::SourceEvent::Params(params), cam.clocks());
    cam.run_until(6.8);
    cam.lose_stream("second drop");
    assert_eq!(cam.closed.len(), 1, "only the first clip is kept");
    let discarded: Vec<_> = cam
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::ClipDiscarded(r) => Some(r.path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(discarded.len(), 1);
    assert!(!discarded[0].exists(), "the empty file is removed");
    assert_eq!(mp4s_under(&dir.path().join("clips")).len(), 1);
}
