//! ClipWriter behaviour on synthetic packets: what it skips, when it cuts fragments, what it
//! puts in them, and what `finish` adds. (Playback by real players: fmp4_ffprobe.rs.)

mod fmp4_support;

use bytes::Bytes;
use fmp4_support::{check_mfra, fragments, top_boxes};
use vigil_core::fmp4::{inspect, ClipWriter, Fmp4Error, SkipReason, WriteOutcome};
use vigil_core::packet::{AudioParams, Packet, StreamParams, TrackKind, VideoCodec, VideoParams};
use vigil_core::time::Time;

const T0: Time = Time(1_700_000_000_000_000);

fn params(audio: bool) -> StreamParams {
    StreamParams {
        video: VideoParams {
            codec: VideoCodec::H264,
            width: 640,
            height: 360,
            config: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]),
        },
        audio: audio.then(|| AudioParams {
            sample_rate: 48_000,
            channels: 1,
            config: Bytes::from_static(&[0x11, 0x88]),
        }),
    }
}

/// Video frame `i` at 30 fps, a keyframe every 30 frames.
fn video(i: i64) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: i * 3000,
        time: T0.plus_micros(i * 33_333),
        keyframe: i % 30 == 0,
        data: Bytes::from(vec![i as u8; 100 + i as usize % 7]),
    }
}

/// AAC frame `i` (1024 samples at 48 kHz), `offset_us` after T0.
fn audio(i: i64, offset_us: i64) -> Packet {
    Packet {
        track: TrackKind::Audio,
        pts: i * 1024,
        time: T0.plus_micros(offset_us + i * 21_333),
        keyframe: true,
        data: Bytes::from(vec![0xa0; 20]),
    }
}

fn at(p: Packet, pts: i64, us: i64) -> Packet {
    Packet {
        pts,
        time: T0.plus_micros(us),
        ..p
    }
}

fn new_clip(audio: bool) -> (tempfile::TempDir, std::path::PathBuf, ClipWriter) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let w = ClipWriter::create(&path, &params(audio)).unwrap();
    (dir, path, w)
}

const SKIP_EARLY: WriteOutcome = WriteOutcome::Skipped(SkipReason::BeforeFirstKeyframe);

#[test]
fn clip_starts_at_the_first_keyframe_and_audio_waits_for_it() {
    let (_d, path, mut w) = new_clip(true);
    let mut nonkey = video(1);
    nonkey.time = T0.plus_micros(-100_000);
    assert_eq!(
        w.write(&audio(0, -200_000)).unwrap(),
        SKIP_EARLY,
        "audio before any video"
    );
    assert_eq!(
        w.write(&nonkey).unwrap(),
        SKIP_EARLY,
        "video before the first keyframe"
    );
    assert_eq!(w.write(&video(0)).unwrap(), WriteOutcome::Queued);
    assert_eq!(
        w.write(&audio(1, -30_000)).unwrap(),
        SKIP_EARLY,
        "audio earlier than the keyframe"
    );
    assert_eq!(w.write(&audio(2, -30_000)).unwrap(), WriteOutcome::Queued);
    assert_eq!(w.write(&video(1)).unwrap(), WriteOutcome::Queued);
    let s = w.summary();
    assert_eq!(
        (s.skipped, s.video_samples, s.audio_samples, s.keyframes),
        (3, 2, 1, 1)
    );
    assert_eq!(s.start, Some(T0));
    assert_eq!(s.path, path);
    let s = w.finish().unwrap();
    assert_eq!(s.fragments, 1);
    assert_eq!((s.video_samples, s.audio_samples), (2, 1));
}

#[test]
fn audio_is_skipped_without_an_audio_track() {
    let (_d, _p, mut w) = new_clip(false);
    w.write(&video(0)).unwrap();
    assert_eq!(
        w.write(&audio(0, 0)).unwrap(),
        WriteOutcome::Skipped(SkipReason::NoAudioTrack)
    );
    assert_eq!(w.summary().audio_samples, 0);
}

#[test]
fn non_increasing_pts_is_skipped_and_durations_stay_positive() {
    let (_d, path, mut w) = new_clip(true);
    let not_increasing = WriteOutcome::Skipped(SkipReason::TimeNotIncreasing);
    w.write(&video(0)).unwrap();
    w.write(&video(1)).unwrap();
    assert_eq!(w.write(&video(1)).unwrap(), not_increasing, "same pts");
    assert_eq!(
        w.write(&at(video(2), 1000, 0)).unwrap(),
        not_increasing,
        "backwards"
    );
    w.write(&audio(0, 0)).unwrap();
    assert_eq!(
        w.write(&at(audio(1, 0), 0, 30_000)).unwrap(),
        not_increasing
    );
    w.write(&video(2)).unwrap();
    w.write(&audio(1, 0)).unwrap();
    let s = w.finish().unwrap();
    assert_eq!((s.skipped, s.video_samples, s.audio_samples), (3, 3, 2));
    let tree = inspect(&std::fs::read(&path).unwrap());
    // 3 video frames of 3000 ticks (last one: the previous duration).
    assert!(
        tree.contains("mdhd @") && tree.contains("timescale=90000 duration=9000"),
        "{tree}"
    );
    assert!(tree.contains("timescale=48000 duration=2048"), "{tree}");
}

#[test]
fn a_fragment_is_written_and_synced_once_a_second_of_video_is_complete() {
    let (_d, path, mut w) = new_clip(false);
    let mut cut_at = vec![];
    for i in 0..100 {
        let before = w.summary().fragments;
        w.write(&video(i)).unwrap();
        let s = w.summary();
        if s.fragments > before {
            cut_at.push(i);
            // On disk before write() returned: the file ends with that whole fragment.
            assert_eq!(std::fs::metadata(&path).unwrap().len(), s.bytes);
        }
    }
    // Frame 30 completes frame 29: 30 complete frames = 90 000 ticks = 1 s.
    assert_eq!(cut_at, vec![30, 60, 90]);
    let s = w.finish().unwrap();
    assert_eq!(s.fragments, 4);
    let data = std::fs::read(&path).unwrap();
    let ticks: Vec<u64> = fragments(&data).iter().map(|f| f.1).collect();
    assert_eq!(ticks, vec![90_000, 90_000, 90_000, 30_000]);
    assert_eq!(s.bytes, data.len() as u64);
    assert!((s.duration_secs - 100.0 / 30.0).abs() < 1e-9);
    assert_eq!(s.end, Some(T0.plus_micros(3_333_333)));
    // Every fragment of this stream starts on a keyframe (GOP = 30 frames = 1 s).
    let boxes: Vec<_> = top_boxes(&data).into_iter().map(|b| b.0).collect();
    assert_eq!(
        boxes,
        ["ftyp", "moov", "moof", "mdat", "moof", "mdat", "moof", "mdat", "moof", "mdat", "mfra"]
    );
}

#[test]
fn sync_fragment_writes_the_complete_samples_now() {
    let (_d, path, mut w) = new_clip(false);
    w.sync_fragment().unwrap(); // nothing queued: no-op
    assert_eq!(w.summary().fragments, 0);
    for i in 0..5 {
        w.write(&video(i)).unwrap();
    }
    w.sync_fragment().unwrap();
    w.sync_fragment().unwrap(); // only the pending last frame left: no-op
    let s = w.summary();
    assert_eq!(s.fragments, 1);
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len() as u64, s.bytes);
    assert_eq!(fragments(&data), vec![(data.len(), 4 * 3000)]);
    assert!(inspect(&data).contains("trun @") && inspect(&data).contains("samples=4"));
}

#[test]
fn audio_decode_time_starts_at_its_offset_from_the_first_keyframe() {
    let (_d, path, mut w) = new_clip(true);
    w.write(&video(0)).unwrap();
    w.write(&audio(0, 10_000)).unwrap(); // 10 ms after the keyframe = 480 ticks at 48 kHz
    w.write(&audio(1, 10_000)).unwrap();
    w.write(&video(1)).unwrap();
    w.finish().unwrap();
    let tree = inspect(&std::fs::read(&path).unwrap());
    let lines: Vec<&str> = tree.lines().map(str::trim).collect();
    let audio_traf = lines
        .iter()
        .position(|l| l.starts_with("tfhd") && l.contains("track_id=2"))
        .unwrap();
    assert!(
        lines[audio_traf + 1].starts_with("tfdt") && lines[audio_traf + 1].ends_with("base=480"),
        "{tree}"
    );
    let video_traf = lines
        .iter()
        .position(|l| l.starts_with("tfhd") && l.contains("track_id=1"))
        .unwrap();
    assert!(lines[video_traf + 1].ends_with("base=0"), "{tree}");
}

#[test]
fn finish_patches_the_durations_and_appends_an_index() {
    let (_d, path, mut w) = new_clip(true);
    for i in 0..45 {
        w.write(&video(i)).unwrap();
    }
    for i in 0..70 {
        w.write(&audio(i, 0)).unwrap();
    }
    w.finish().unwrap();
    let data = std::fs::read(&path).unwrap();
    let tree = inspect(&data);
    // 45 frames = 1.5 s; 70 AAC frames = 1.493 s: the movie lasts 1500 ms. Video fills two
    // fragments (a keyframe in each); all the audio came after the video, so one.
    for want in [
        "ftyp @0 size=36 major=isom minor=512 compatible=isom,iso5,iso6,mp41,avc1",
        "mvhd @",
        "version=1 timescale=1000 duration=1500",
        "tkhd @",
        "track_id=1 flags=0x3 duration=1500 width=640 height=360",
        "track_id=2 flags=0x3 duration=1493",
        "timescale=90000 duration=135000",
        "timescale=48000 duration=71680",
        "handler=vide",
        "handler=soun",
        "avc1 @",
        "width=640 height=360",
        "avcC @",
        "config_bytes=8",
        "mp4a @",
        "channels=1 samplesize=16 samplerate=48000",
        "esds @",
        "mehd @",
        "duration=1500",
        "trex @",
        "moof @",
        "mfhd @",
        "sequence=1",
        "sequence=2",
        "mdat @",
        "mfra @",
        "tfra @",
        "version=1 track_id=1 entries=2",
        "version=1 track_id=2 entries=1",
    ] {
        assert!(tree.contains(want), "missing {want:?} in\n{tree}");
    }
    assert!(!tree.contains("!malformed"), "{tree}");
    let entries = check_mfra(&data);
    assert_eq!((entries[&1], entries[&2]), (2, 1));
    // mfro (the last 16 bytes) gives the mfra's size.
    let (kind, _, size) = top_boxes(&data).pop().unwrap();
    assert_eq!(kind, "mfra");
    assert_eq!(&data[data.len() - 12..data.len() - 8], b"mfro");
    assert_eq!(
        u32::from_be_bytes(data[data.len() - 4..].try_into().unwrap()) as usize,
        size
    );
}

#[test]
fn an_empty_clip_is_still_a_valid_file() {
    let (_d, path, w) = new_clip(false);
    let s = w.finish().unwrap();
    assert_eq!(
        (s.fragments, s.video_samples, s.start, s.duration_secs),
        (0, 0, None, 0.0)
    );
    let boxes: Vec<_> = top_boxes(&std::fs::read(&path).unwrap())
        .into_iter()
        .map(|b| b.0)
        .collect();
    assert_eq!(boxes, ["ftyp", "moov", "mfra"]);
}

#[test]
fn create_never_overwrites_and_needs_its_directory() {
    let (d, path, w) = new_clip(false);
    drop(w);
    let err = ClipWriter::create(&path, &params(false)).unwrap_err();
    assert!(matches!(err, Fmp4Error::Io { .. }), "{err}");
    let missing = d.path().join("no/such/dir/clip.mp4");
    assert!(matches!(
        ClipWriter::create(&missing, &params(false)),
        Err(Fmp4Error::Io { .. })
    ));
}

#[test]
fn write_batch_writes_the_same_file_as_write_one_by_one() {
    let file = fmp4_support::open_fixture("h264_aac.mp4");
    let packets = fmp4_support::packets(&file);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    let mut wa = ClipWriter::create(&a, &file.params).unwrap();
    for p in &packets {
        wa.write(p).unwrap();
    }
    wa.sync_fragment().unwrap();
    let mut wb = ClipWriter::create(&b, &file.params).unwrap();
    let queued = wb.write_batch(&packets).unwrap();
    assert_eq!(queued, packets.len());
    assert_eq!(wa.summary().fragments, wb.summary().fragments);
    wa.finish().unwrap();
    wb.finish().unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}
