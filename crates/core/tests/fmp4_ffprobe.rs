//! Clips written by `ClipWriter` from real encoder output, checked with the real ffprobe/ffmpeg.
//! These tests FAIL (not skip) without ffmpeg: CI installs it.
//!
//! Fixtures (tests/fixtures/, made once, committed):
//!
//! ```sh
//! ffmpeg -f lavfi -i testsrc2=size=320x180:rate=15:duration=4 -c:v libx264 -preset veryfast \
//!   -crf 32 -pix_fmt yuv420p -bf 0 -g 15 -sc_threshold 0 -map_metadata -1 -movflags +faststart h264.mp4
//! ffmpeg -f lavfi -i testsrc2=size=320x180:rate=15:duration=4 -c:v libx265 -preset veryfast \
//!   -crf 34 -pix_fmt yuv420p -tag:v hvc1 \
//!   -x265-params log-level=error:bframes=0:keyint=15:min-keyint=15:scenecut=0:open-gop=0 \
//!   -map_metadata -1 -movflags +faststart h265.mp4
//! ffmpeg -f lavfi -i testsrc2=size=320x180:rate=15:duration=4 \
//!   -f lavfi -i sine=frequency=440:sample_rate=48000:duration=4 -c:v libx264 -preset veryfast \
//!   -crf 32 -pix_fmt yuv420p -bf 0 -g 15 -sc_threshold 0 -c:a aac -ac 1 -ar 48000 -b:a 32k \
//!   -map_metadata -1 -movflags +faststart h264_aac.mp4
//! ```

mod fmp4_support;

use fmp4_support::*;
use vigil_core::fmp4::{ClipWriter, WriteOutcome};
use vigil_core::packet::{Packet, TrackKind, VIDEO_TIMESCALE};

/// How long the writer makes a track from these packets: each sample lasts until the next of its
/// track, the last one as long as the one before it.
fn written_secs(pkts: &[Packet], track: TrackKind, timescale: u32) -> f64 {
    let pts: Vec<i64> = pkts
        .iter()
        .filter(|p| p.track == track)
        .map(|p| p.pts)
        .collect();
    let n = pts.len();
    let ticks = (pts[n - 1] - pts[0]) + (pts[n - 1] - pts[n - 2]);
    ticks as f64 / f64::from(timescale)
}

/// Writes a fixture through the clip writer and checks the clip with ffprobe and ffmpeg.
fn round_trip(name: &str, want_streams: &[&str]) {
    let src = open_fixture(name);
    let pkts = packets(&src);
    let dir = tempfile::tempdir().unwrap();
    let (clip, summary) = write_clip(dir.path(), "clip.mp4", &src.params, &pkts);

    // (a) codecs and size
    let streams = ffprobe(
        &clip,
        &[
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ],
    );
    let streams: Vec<&str> = streams.lines().map(|l| l.trim_end_matches(',')).collect();
    assert_eq!(streams, want_streams, "{name}");

    // (b) the first video packet is a keyframe
    let flags = video_packet_flags(&clip);
    let keys = src
        .samples
        .iter()
        .filter(|s| s.track == TrackKind::Video && s.keyframe);
    assert_eq!(
        flags.iter().filter(|f| f.contains('K')).count(),
        keys.count(),
        "{name}: keyframes"
    );
    assert!(
        flags[0].contains('K'),
        "{name}: first packet flags {:?}",
        flags[0]
    );

    // (c) decodes without a single error
    assert_eq!(
        decode_errors(&clip, &[]),
        "",
        "{name}: ffmpeg decode errors"
    );

    // (d) duration: what the writer was fed (each sample lasts until the next of its track; the
    // last one as long as the one before), and the source's own duration as ffprobe sees it,
    // within one video frame plus one AAC frame (the source trims its last AAC frame, we don't).
    let video_secs = written_secs(&pkts, TrackKind::Video, VIDEO_TIMESCALE);
    let audio_secs = src.params.audio.as_ref().map_or(0.0, |a| {
        written_secs(&pkts, TrackKind::Audio, a.sample_rate)
    });
    let got = format_duration(&clip);
    assert!(
        (got - video_secs.max(audio_secs)).abs() < 0.002,
        "{name}: duration {got} vs fed {video_secs}/{audio_secs}"
    );
    let source = format_duration(&fixture(name));
    let frame = 1.0 / 15.0;
    assert!(
        (got - source).abs() <= frame + 1024.0 / 48_000.0,
        "{name}: duration {got} vs source {source}"
    );
    assert!((summary.duration_secs - video_secs).abs() < 1e-9);
    assert!((video_secs - src.video_duration as f64 / 90_000.0).abs() < 1e-9);

    // (e) every video sample is there
    let n = video_packets(&pkts) as u64;
    assert_eq!(video_packet_count(&clip), n, "{name}");
    assert_eq!(summary.video_samples, n);

    // The mfra indexes every fragment's keyframe (one GOP per fragment here), and ffmpeg
    // decodes cleanly when it uses it.
    let data = std::fs::read(&clip).unwrap();
    let entries = check_mfra(&data);
    assert_eq!(entries.get(&1), Some(&4), "{name}: {entries:?}");
    assert_eq!(entries.contains_key(&2), src.params.audio.is_some());
    assert_eq!(summary.fragments, fragments(&data).len() as u64);
    assert_eq!(
        decode_errors(&clip, &["-use_mfra_for", "dts"]),
        "",
        "{name}: with mfra"
    );
}

#[test]
fn h264_clip_plays_in_ffmpeg() {
    round_trip("h264.mp4", &["h264,320,180"]);
}

#[test]
fn h265_clip_plays_in_ffmpeg() {
    round_trip("h265.mp4", &["hevc,320,180"]);
}

#[test]
fn h264_aac_clip_plays_in_ffmpeg() {
    round_trip("h264_aac.mp4", &["h264,320,180", "aac"]);
}

#[test]
fn clip_starting_mid_gop_begins_at_the_next_keyframe() {
    let src = open_fixture("h264_aac.mp4");
    let pkts = packets(&src);
    // Start 5 video frames into the first GOP: video and audio before the next keyframe go.
    let first_video = pkts
        .iter()
        .position(|p| p.track == TrackKind::Video)
        .unwrap();
    let cut = pkts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.track == TrackKind::Video)
        .nth(5)
        .map(|(i, _)| i)
        .unwrap();
    assert!(cut > first_video);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let mut w = ClipWriter::create(&path, &src.params).unwrap();
    let mut skipped = 0;
    for p in &pkts[cut..] {
        if let WriteOutcome::Skipped(_) = w.write(p).unwrap() {
            skipped += 1;
        }
    }
    let key = pkts[cut..]
        .iter()
        .find(|p| p.track == TrackKind::Video && p.keyframe)
        .unwrap();
    let s = w.finish().unwrap();
    assert_eq!(s.start, Some(key.time));
    assert_eq!(s.skipped, skipped);
    assert!(
        skipped >= 10 + 10,
        "10 video frames and their audio: {skipped}"
    );
    assert!(video_packet_flags(&path)[0].contains('K'));
    assert_eq!(decode_errors(&path, &[]), "");
    // Video from the keyframe on; audio from the first packet at or after it, placed at its
    // wall-clock offset from the keyframe. (ffprobe adds the audio's start offset, less than
    // one AAC frame, to its end once more: allow that.)
    let kept: Vec<Packet> = pkts[cut..]
        .iter()
        .filter(|p| p.time >= key.time && (p.track == TrackKind::Audio || p.pts >= key.pts))
        .cloned()
        .collect();
    let video = written_secs(&kept, TrackKind::Video, VIDEO_TIMESCALE);
    let first_audio = kept.iter().find(|p| p.track == TrackKind::Audio).unwrap();
    let audio_end =
        first_audio.time.secs_since(key.time) + written_secs(&kept, TrackKind::Audio, 48_000);
    let want = video.max(audio_end);
    let got = format_duration(&path);
    assert!((got - want).abs() < 1024.0 / 48_000.0, "{got} vs {want}");
    assert!((s.duration_secs - video).abs() < 1e-9);
}

#[test]
fn keyframe_only_preroll_is_valid_with_stretched_durations() {
    // First half: only each GOP's keyframe (as a keyframe-only pre-buffer flushes); then all frames.
    let src = open_fixture("h264.mp4");
    let pkts = packets(&src);
    let half = pkts.len() / 2;
    let half = half + pkts[half..].iter().position(|p| p.keyframe).unwrap();
    let sparse: Vec<Packet> = pkts
        .iter()
        .enumerate()
        .filter(|(i, p)| *i >= half || p.keyframe)
        .map(|(_, p)| p.clone())
        .collect();
    assert!(sparse.len() < pkts.len());
    let dir = tempfile::tempdir().unwrap();
    let (clip, summary) = write_clip(dir.path(), "sparse.mp4", &src.params, &sparse);
    assert_eq!(decode_errors(&clip, &[]), "");
    let full = src.video_duration as f64 / 90_000.0;
    assert!(
        (format_duration(&clip) - full).abs() < 0.002,
        "{} vs {full}",
        format_duration(&clip)
    );
    assert!((summary.duration_secs - full).abs() < 1e-9);
    assert_eq!(video_packet_count(&clip), sparse.len() as u64);
    assert!(video_packet_flags(&clip)
        .iter()
        .take(half / 15)
        .all(|f| f.contains('K')));
}
