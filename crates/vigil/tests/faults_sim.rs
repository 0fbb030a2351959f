//! Bad input from a camera, through the real pipeline: never a panic, and the clip stays valid.

mod common;

use bytes::Bytes;
use common::*;
use vigil::camera::CameraPipeline;
use vigil::clips::ClipStore;
use vigil::ingest::SourceEvent;
use vigil_core::fmp4::Mp4File;
use vigil_core::kind::EventKind;
use vigil_core::packet::{Packet, TrackKind, VIDEO_TIMESCALE};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Now, Time};
use vigil_core::timeline::Timeline;

/// A raw source: samples with their raw timestamps, before any [`Timeline`].
struct Raw {
    track: TrackKind,
    pts: i64,
    key: bool,
    data: Bytes,
}

fn raw_samples(sample: &'static [u8], loops: i64) -> (Mp4File, Vec<Raw>) {
    let f = Mp4File::parse(Bytes::from_static(sample)).unwrap();
    let mut out = vec![];
    for l in 0..loops {
        for s in &f.samples {
            let period = match s.track {
                TrackKind::Video => f.video_duration,
                TrackKind::Audio => f.audio_duration,
            };
            out.push(Raw {
                track: s.track,
                pts: s.pts + l * period,
                key: s.keyframe,
                data: s.data.clone(),
            });
        }
    }
    (f, out)
}

/// Runs raw samples through a Timeline into a pipeline; motion from `on` to `off` seconds.
fn record(
    sample: &'static [u8],
    raws: Vec<Raw>,
    file: &Mp4File,
    on: f64,
    off: f64,
) -> Vec<std::path::PathBuf> {
    let dir = tempfile::tempdir().unwrap().keep();
    let settings = RecordingSettings {
        pre_buffer_secs: 2,
        post_buffer_secs: 1,
        ..Default::default()
    };
    let pool = Pool::new(50 << 20);
    let buffer = pool
        .register(
            "cam",
            BufferConfig::from_settings(&settings, dir.join("spool")),
        )
        .unwrap();
    let mut p = CameraPipeline::new(
        "cam",
        settings,
        buffer,
        ClipStore::new(dir.join("clips")),
        dir.join("spool"),
    );
    let sr = file.params.audio.as_ref().map_or(48_000, |a| a.sample_rate);
    let mut tl = Timeline::new(T0, VIDEO_TIMESCALE, sr);
    p.on_source(
        SourceEvent::Params(std::sync::Arc::new(file.params.clone())),
        Now::at(T0),
    );
    let (mut started, mut ended) = (false, false);
    let mut now = T0;
    for r in raws {
        let Ok(pkt) = tl.accept(r.track, r.pts, r.key, r.data) else {
            continue;
        };
        now = now.max(pkt.time);
        let secs = now.secs_since(T0);
        if !started && secs >= on {
            started = true;
            p.motion_start(MotionSource::Onvif, EventKind::Motion, None, Now::at(now));
        }
        if !ended && secs >= off {
            ended = true;
            p.motion_end(MotionSource::Onvif, EventKind::Motion, Now::at(now));
        }
        if let Some(d) = p.next_deadline() {
            if d <= now {
                p.tick(Now::at(now));
            }
        }
        p.on_source(SourceEvent::Packet(pkt), Now::at(now));
    }
    p.shutdown(Now::at(now));
    let _ = sample;
    p.take_notices()
        .into_iter()
        .filter_map(|n| match n {
            vigil::notice::Notice::ClipClosed(r) => Some(r.path),
            _ => None,
        })
        .collect()
}

#[test]
fn stream_that_starts_without_a_keyframe() {
    let (f, mut raws) = raw_samples(SAMPLE_H264_AAC, 2);
    // Join mid-GOP: the first 12 video frames (and audio with them) are not decodable on their own.
    let cut = raws
        .iter()
        .position(|r| r.track == TrackKind::Video && r.pts >= 12 * 3000)
        .unwrap();
    raws.drain(..cut);
    let clips = record(SAMPLE_H264_AAC, raws, &f, 0.1, 3.0);
    assert_eq!(clips.len(), 1);
    let facts = check_clip(&clips[0]);
    assert!(facts.first_video_packet_key);
}

#[test]
fn timestamps_jumping_backwards() {
    let (f, mut raws) = raw_samples(SAMPLE_H264, 2);
    // At 4 s the camera's clock jumps back by 3 s, then runs on from there.
    for r in raws.iter_mut().filter(|r| r.pts >= 4 * 90_000) {
        r.pts -= 3 * 90_000;
    }
    let clips = record(SAMPLE_H264, raws, &f, 5.0, 8.0);
    assert_eq!(clips.len(), 1);
    let facts = check_clip(&clips[0]);
    assert!(facts.first_video_packet_key);
    assert!(facts.duration > 5.0, "{}", facts.duration);
}

#[test]
fn zero_length_packets_are_refused_and_the_clip_stays_valid() {
    let (f, raws) = raw_samples(SAMPLE_H264_AAC, 1);
    let mut with_empties = vec![];
    for (i, r) in raws.into_iter().enumerate() {
        if i % 7 == 3 {
            with_empties.push(Raw {
                track: r.track,
                pts: r.pts,
                key: false,
                data: Bytes::new(),
            });
        }
        with_empties.push(r);
    }
    let clips = record(SAMPLE_H264_AAC, with_empties, &f, 4.0, 6.0);
    assert_eq!(clips.len(), 1);
    assert!(check_clip(&clips[0]).first_video_packet_key);
}

#[test]
fn empty_packet_that_bypasses_the_timeline_does_no_harm() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264, RecordingSettings::default(), dir.path());
    let empty = |now: Time, track| {
        SourceEvent::Packet(Packet {
            track,
            pts: 0,
            time: now,
            keyframe: true,
            data: Bytes::new(),
        })
    };
    cam.run_until(6.0);
    // While BUFFERING, and again while RECORDING.
    for track in [TrackKind::Video, TrackKind::Audio] {
        cam.pipeline
            .on_source(empty(cam.mono(), track), cam.clocks());
    }
    cam.motion_start(MotionSource::Onvif);
    for track in [TrackKind::Video, TrackKind::Audio] {
        cam.pipeline
            .on_source(empty(cam.mono(), track), cam.clocks());
    }
    cam.run_until(8.0);
    cam.motion_end(MotionSource::Onvif);
    cam.run_until(20.0);
    assert_eq!(cam.closed.len(), 1);
    assert!(check_clip(&cam.closed[0].path).first_video_packet_key);
}

#[test]
fn out_of_range_settings_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut cam = SimCamera::new(SAMPLE_H264, RecordingSettings::default(), dir.path());
    let bad = RecordingSettings {
        pre_buffer_secs: 61,
        ..Default::default()
    };
    let e = cam.pipeline.configure(bad, cam.clocks()).unwrap_err();
    assert_eq!(e.field, "pre_buffer_secs");
    assert_eq!(
        cam.pipeline.settings().pre_buffer_secs,
        5,
        "nothing changed"
    );
}
