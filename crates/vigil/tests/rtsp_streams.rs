//! Real RTSP streams (GStreamer's server, testbed/) through real retina into the real camera
//! worker: parameters, keyframes, timing, and a motion clip checked with ffprobe/ffmpeg, for
//! H.264, H.265 closed GOP (IDR), H.265 open GOP (CRA), H.264 + AAC, and H.264 + G.711 (skipped).

mod common;
mod rtsp_support;

use std::process::Command;
use std::time::Duration;

use rtsp_support::*;
use vigil::ingest::rtsp::{self, RtspError};
use vigil_core::packet::{TrackKind, VideoCodec};
use vigil_core::time::Clock;

struct Expect {
    file: &'static str,
    codec: VideoCodec,
    audio: Option<(u32, u16)>,
}

fn stream_is_ingested_and_recorded(expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&[("cam", expect.file)]);
    let rt = runtime();
    let cam = Camera::start("cam", dir.path(), quick_settings());
    let (send, seen) = tap(Some(cam.sender()));
    let ingest = Ingest::start(&rt, test_config(&server.url("cam")), send);

    // Parameters first, then a keyframe.
    let (params, before) = ingest.wait_params(&seen, Duration::from_secs(15));
    assert_eq!(before, 0, "nothing goes out before Params");
    assert_eq!(params.video.codec, expect.codec);
    assert_eq!((params.video.width, params.video.height), (320, 240));
    // avcC and hvcC both start with configurationVersion = 1.
    assert_eq!(params.video.config.first(), Some(&1));
    assert_eq!(
        params.audio.as_ref().map(|a| (a.sample_rate, a.channels)),
        expect.audio
    );

    // Three seconds of stream: keyframes where the encoder put them, time increasing, real time.
    let window = collect_for(&seen, Duration::from_secs(3));
    let video = packets(&window, TrackKind::Video);
    assert!(video.len() >= 80, "{} video packets in 3 s", video.len());
    assert!(
        video[0].1.keyframe,
        "the first packet after Params is a keyframe"
    );
    let keys = video.iter().filter(|(_, p)| p.keyframe).count();
    let want = video.len() / 30;
    assert!(
        (want.saturating_sub(1)..=want + 1).contains(&keys),
        "{keys} keyframes in {} frames (GOP 30)",
        video.len()
    );
    assert_realtime(&video, "video");
    let audio = packets(&window, TrackKind::Audio);
    if expect.audio.is_some() {
        assert!(audio.len() >= 100, "{} AAC frames in 3 s", audio.len());
        assert_realtime(&audio, "audio");
        // Audio and video stamped on one clock: their first times within a frame or two.
        let skew = audio[0].1.time.micros_since(video[0].1.time).abs();
        assert!(skew < 200_000, "audio starts {skew} µs from video");
    } else {
        assert!(audio.is_empty());
    }

    // A motion clip: 2 s of motion, 2 s pre-roll, 1 s post-roll.
    cam.motion_start();
    let _ = collect_for(&seen, Duration::from_secs(2));
    cam.motion_end();
    let rec = cam.wait_clip_closed(Duration::from_secs(15));
    let facts = common::check_clip(&rec.path);
    assert!(facts.first_video_packet_key);
    assert_eq!(
        facts.video_codec,
        match expect.codec {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "hevc",
        }
    );
    assert_eq!((facts.width, facts.height), (320, 240));
    assert_eq!(facts.audio_codec.is_some(), expect.audio.is_some());
    assert!(
        (4.0..8.0).contains(&facts.duration),
        "clip lasts {:.2} s",
        facts.duration
    );
    assert!(
        rec.pre_roll_secs >= 1.9,
        "pre-roll {:.2} s",
        rec.pre_roll_secs
    );
    // Every packet decodes to a picture: no leading frame the decoder had to skip.
    let (frames, packets) = decoded_frames(&rec.path);
    assert_eq!(frames, packets, "decoded frames vs video packets");
    if expect.codec == VideoCodec::H265 {
        let nal = first_vcl_nal_type(&rec.path);
        assert!((16..=23).contains(&nal), "clip starts with NAL type {nal}");
    }
}

/// Packet times strictly increase, and advance like the wall clock (within 10 %, plus the
/// pacing of reads: the first and last packets seen may each have waited up to a read's pause).
fn assert_realtime(ps: &[(std::time::Instant, vigil_core::packet::Packet)], what: &str) {
    for w in ps.windows(2) {
        assert!(w[1].1.time > w[0].1.time, "{what} time went backwards");
        assert!(w[1].1.pts > w[0].1.pts, "{what} pts went backwards");
    }
    let (first, last) = (&ps[0], &ps[ps.len() - 1]);
    let media = last.1.time.secs_since(first.1.time);
    let wall = (last.0 - first.0).as_secs_f64();
    let paced = vigil::runtime::live::READ_EVERY.as_secs_f64();
    assert!(
        (media - wall).abs() < 0.1 * wall + paced + 0.1,
        "{what}: {media:.2} s of media in {wall:.2} s"
    );
}

/// (decoded video frames, video packets) as ffprobe counts them.
fn decoded_frames(path: &std::path::Path) -> (u64, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-count_packets", "-of", "json", "-show_entries"])
        .arg("stream=nb_read_frames,nb_read_packets")
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let n = |k: &str| {
        j["streams"][0][k]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    (n("nb_read_frames"), n("nb_read_packets"))
}

/// The NAL unit type of the first slice in an H.265 clip, read by ffmpeg's trace_headers
/// (independent of the keyframe flag vigil wrote).
fn first_vcl_nal_type(path: &std::path::Path) -> u32 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "info", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-bsf:v", "trace_headers"])
        .args(["-frames:v", "1", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        // The bitstream trace's own lines: "... nal_unit_type   010101 = 21".
        .filter(|l| l.contains("trace_headers") && l.contains("nal_unit_type") && l.contains(" = "))
        .filter_map(|l| l.rsplit(" = ").next()?.trim().parse::<u32>().ok())
        .find(|&t| t < 32)
        .expect("a VCL NAL unit in the trace")
}

#[test]
fn rtsp_h264() {
    stream_is_ingested_and_recorded(Expect {
        file: "h264.mp4",
        codec: VideoCodec::H264,
        audio: None,
    });
}

#[test]
fn rtsp_h265_closed_gop() {
    stream_is_ingested_and_recorded(Expect {
        file: "h265_closed.mp4",
        codec: VideoCodec::H265,
        audio: None,
    });
}

/// x265's default open GOP: keyframes are CRA pictures, which retina 0.4.21 doesn't flag.
#[test]
fn rtsp_h265_open_gop() {
    stream_is_ingested_and_recorded(Expect {
        file: "h265_open.mp4",
        codec: VideoCodec::H265,
        audio: None,
    });
}

#[test]
fn rtsp_h264_aac() {
    stream_is_ingested_and_recorded(Expect {
        file: "h264_aac.mp4",
        codec: VideoCodec::H264,
        audio: Some((44_100, 2)),
    });
}

#[test]
fn rtsp_describe_reports_the_stream_or_a_clear_error() {
    let server = RtspServer::start(&[("cam", "h264_aac.mp4")]);
    let rt = runtime();
    let s = rt
        .handle()
        .block_on(rtsp::describe(&test_config(&server.url("cam"))))
        .expect("describe");
    assert_eq!(s.video.codec, VideoCodec::H264);
    assert_eq!((s.video.width, s.video.height), (320, 240));
    let audio = s.audio.expect("AAC audio");
    assert_eq!((audio.sample_rate, audio.channels), (44_100, 2));
    assert!(s.skipped_audio.is_empty());

    let e = rt
        .handle()
        .block_on(rtsp::describe(&test_config(&server.url("nope"))))
        .unwrap_err();
    assert!(matches!(e, RtspError::NotFound(_)), "{e:?}");
    assert!(e.to_string().contains("404"), "{e}");
}

/// G.711 audio (not AAC): skipped, the video recorded alone, and `describe` says what was left.
#[test]
fn rtsp_h264_with_pcma_audio_records_video_only() {
    stream_is_ingested_and_recorded(Expect {
        file: "h264_pcma.mov",
        codec: VideoCodec::H264,
        audio: None,
    });
    let server = RtspServer::start(&[("cam", "h264_pcma.mov")]);
    let s = runtime()
        .handle()
        .block_on(rtsp::describe(&test_config(&server.url("cam"))))
        .expect("describe");
    assert_eq!(s.audio, None);
    assert_eq!(s.skipped_audio, ["pcma"]);
}

/// Two cameras on one mount, the second joining while the first plays, both through the loop of
/// the test bed's 10 s file: each stream goes on as one (a camera joined mid-stream never moves,
/// and the file's end is no end), read by the paced runtime `vigil run` uses. Before the test bed
/// answered "not seekable", the second PLAY seeked everyone back to 0 and the file's end ended
/// every session.
#[test]
fn rtsp_two_sessions_on_one_mount_stream_through_the_loop() {
    let server = RtspServer::start(&[("cam", "h264.mp4")]);
    let rt = runtime();
    let (send_a, seen_a) = tap(None);
    let (send_b, seen_b) = tap(None);
    // To compare packets' times (SystemClock's monotonic clock) with when frames were handed
    // over (Instant).
    let (instant0, mono0) = (
        std::time::Instant::now(),
        vigil_core::time::SystemClock.monotonic(),
    );
    let mut a = Ingest::start(&rt, test_config(&server.url("cam")), send_a);
    a.wait_params(&seen_a, Duration::from_secs(15));
    let mut window_a = collect_for(&seen_a, Duration::from_secs(2));
    let mut b = Ingest::start(&rt, test_config(&server.url("cam")), send_b);
    b.wait_params(&seen_b, Duration::from_secs(15));
    // Past the file's end (10 s after the mount started playing) with both.
    window_a.extend(collect_for(&seen_a, Duration::from_secs(10)));
    let window_b = collect_for(&seen_b, Duration::from_millis(100));
    let (end_a, end_b) = (a.stop(), b.stop());
    for (name, window, ingest, end) in [("A", &window_a, &a, end_a), ("B", &window_b, &b, end_b)] {
        let lost: Vec<_> = window
            .iter()
            .filter(|(_, s)| matches!(s, Seen::Lost(_)))
            .collect();
        assert!(
            lost.is_empty(),
            "{name} lost its stream: {lost:?} (end {end:?})"
        );
        let stats = ingest.stats.snapshot();
        assert_eq!(stats.sessions, 1, "{name}: {stats:?}");
        assert_eq!(
            stats.discontinuities, 0,
            "{name}: timestamps jumped: {stats:?}"
        );
        let video = packets(window, TrackKind::Video);
        assert_realtime(&video, name);
    }
    // Labels are anchored on the last frame of the first read, which arrived just before the
    // read: no frame is labelled later than it was handed over, and the newest frame of each
    // read is labelled within a frame or so of it. (Anchored on the first keyframe as read, the
    // labels were late by as long as that keyframe had waited in the socket.)
    let video_a = packets(&window_a, TrackKind::Video);
    let ahead_ms = video_a
        .iter()
        .map(|(at, p)| p.time.micros_since(mono0.plus(*at - instant0)) / 1000)
        .max()
        .unwrap();
    assert!(
        (-100..=50).contains(&ahead_ms),
        "the most recent label is {ahead_ms} ms ahead of its hand-over"
    );
    let a_secs = video_a.len() as f64 / 30.0;
    assert!(
        a_secs > 11.0,
        "A saw {a_secs:.1} s of video: not past the loop"
    );
}
