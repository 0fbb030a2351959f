//! Real clips from the real pipeline (pre-buffer, pool, recorder, fMP4 writer) fed from the bundled
//! H.264, H.265 and H.264+AAC samples under simulated time, checked with ffprobe and ffmpeg.

mod common;

use common::*;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::{BufferMode, RecordingSettings};

fn settings(pre: u32, post: u32) -> RecordingSettings {
    RecordingSettings {
        pre_buffer_secs: pre,
        post_buffer_secs: post,
        ..RecordingSettings::default()
    }
}

/// Motion from 8 s to 11 s with a 5 s pre-roll and 3 s post-roll: one clip of pre + motion + post.
fn one_event(sample: &'static [u8], s: RecordingSettings) -> (tempfile::TempDir, ClipFacts, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (pre, post) = (s.pre_buffer_secs as f64, s.post_buffer_secs as f64);
    let mut cam = SimCamera::new(sample, s, dir.path());
    cam.run_until(8.0);
    let motion_at = cam.mono();
    cam.motion_start(MotionSource::Onvif);
    cam.run_until(11.0);
    let motion_secs = cam.mono().secs_since(motion_at);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(20.0);
    cam.shutdown();
    assert_eq!(cam.closed.len(), 1, "exactly one clip: {:#?}", cam.closed);
    let rec = &cam.closed[0];
    assert_eq!(rec.close_reason, Some("post_roll_expired"));
    let facts = check_clip(&rec.path);
    assert!(
        facts.first_video_packet_key,
        "first video packet must be a keyframe"
    );
    assert!(
        rec.pre_roll_secs >= pre && rec.pre_roll_secs <= pre + GOP_SECS + 0.01,
        "achieved pre-roll {} for configured {pre}",
        rec.pre_roll_secs
    );
    let expected = rec.pre_roll_secs + motion_secs + post;
    assert!(
        (facts.duration - expected).abs() <= GOP_SECS + 0.05,
        "duration {} vs pre-roll {} + motion {motion_secs} + post-roll {post}",
        facts.duration,
        rec.pre_roll_secs
    );
    assert!(
        (facts.duration - rec.duration_secs).abs() < 0.1,
        "catalog duration {} vs ffprobe {}",
        rec.duration_secs,
        facts.duration
    );
    let pre_roll = rec.pre_roll_secs;
    (dir, facts, pre_roll)
}

#[test]
fn h264_clip_has_pre_roll_motion_and_post_roll() {
    let (_d, f, _) = one_event(SAMPLE_H264, settings(5, 3));
    assert_eq!(f.video_codec, "h264");
    assert_eq!((f.width, f.height), (640, 360));
    assert_eq!(f.audio_codec, None);
}

#[test]
fn h265_clip_has_pre_roll_motion_and_post_roll() {
    let (_d, f, _) = one_event(SAMPLE_H265, settings(5, 3));
    assert_eq!(f.video_codec, "hevc");
}

#[test]
fn h264_aac_clip_keeps_audio() {
    let (_d, f, _) = one_event(SAMPLE_H264_AAC, settings(5, 3));
    assert_eq!(f.video_codec, "h264");
    assert_eq!(f.audio_codec.as_deref(), Some("aac"));
}

#[test]
fn long_pre_roll_spans_loops_of_the_file() {
    // 7 s pre-roll from a 10 s file looped: the window crosses the loop point.
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264_AAC, settings(7, 1), dir.path());
    cam.run_until(13.0);
    cam.motion_start(MotionSource::Api);
    cam.run_until(14.0);
    cam.motion_end(MotionSource::Api);
    cam.run_until(18.0);
    assert_eq!(cam.closed.len(), 1);
    assert!(cam.closed[0].pre_roll_secs >= 7.0);
    let f = check_clip(&cam.closed[0].path);
    assert!(f.first_video_packet_key);
}

#[test]
fn disk_and_hybrid_buffers_give_the_same_clip_as_memory() {
    let mut counts = vec![];
    for mode in [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid] {
        let s = RecordingSettings {
            buffer_mode: mode,
            hybrid_memory_bytes: 64 << 10,
            ..settings(5, 2)
        };
        let (_d, f, pre) = one_event(SAMPLE_H264_AAC, s);
        counts.push((f.video_packets, (pre * 1000.0).round() as i64));
    }
    assert_eq!(counts[0], counts[1], "disk vs memory");
    assert_eq!(counts[0], counts[2], "hybrid vs memory");
}

#[test]
fn keyframe_only_pre_roll_is_sparse_but_valid() {
    let full = one_event(SAMPLE_H264, settings(5, 2)).1;
    let s = RecordingSettings {
        keyframe_only: true,
        ..settings(5, 2)
    };
    let (_d, sparse, pre) = one_event(SAMPLE_H264, s);
    assert!(pre >= 5.0);
    // Pre-roll GOPs but the newest keep only their keyframe: ~4 s × 29 frames fewer.
    assert!(
        sparse.video_packets + 4 * 29 <= full.video_packets,
        "sparse {} vs full {}",
        sparse.video_packets,
        full.video_packets
    );
    assert!((sparse.duration - full.duration).abs() <= GOP_SECS);
}

/// Audio and video are separate streams: a camera's audio frame can arrive after a video frame
/// that is newer than it. The flush's "now" on the packets' timeline is the newest packet seen,
/// not the last one: with the last one (an audio frame 5 ms older than the keyframe just
/// buffered), the buffer had already let go of the GOP the window needed, and the pre-roll came
/// out 5 ms short of `pre_buffer_secs` (seen live as 1.995 s for 2 s).
#[test]
fn an_older_audio_frame_arriving_last_does_not_shorten_the_pre_roll() {
    use vigil::ingest::SourceEvent;
    use vigil_core::packet::TrackKind;
    let dir = tempfile::tempdir().unwrap();
    let pre = 2.0;
    let mut cam = SimCamera::new(SAMPLE_H264_AAC, settings(2, 1), dir.path());
    // Up to the keyframe at 3 s (well past the first window), each audio frame held back until
    // the next one comes, and the last one fed after that keyframe.
    let key = cam.at(3.0);
    let mut held = None;
    loop {
        let p = cam.source.next_packet().expect("the sample loops");
        cam.clock.advance_to(p.time);
        if p.track == TrackKind::Audio {
            if let Some(a) = held.replace(p) {
                cam.pipeline.on_source(SourceEvent::Packet(a), cam.clocks());
            }
            continue;
        }
        let last = p.keyframe && p.time >= key;
        cam.pipeline.on_source(SourceEvent::Packet(p), cam.clocks());
        if last {
            break;
        }
    }
    let late = held.expect("audio before the keyframe");
    assert!(
        late.time < cam.mono(),
        "the audio frame is older than the keyframe"
    );
    cam.pipeline
        .on_source(SourceEvent::Packet(late), cam.clocks());

    cam.motion_start(MotionSource::Api);
    cam.shutdown();
    assert_eq!(cam.closed.len(), 1, "{:#?}", cam.closed);
    let rec = &cam.closed[0];
    assert!(
        rec.pre_roll_secs >= pre && rec.pre_roll_secs <= pre + GOP_SECS + 0.01,
        "pre-roll {} for a {pre} s window",
        rec.pre_roll_secs
    );
    assert!(check_clip(&rec.path).first_video_packet_key);
}
