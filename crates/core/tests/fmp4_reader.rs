//! Mp4File: reads ffmpeg's MP4s exactly (checked against ffprobe), and refuses damaged ones with
//! an error, never a panic. Also: `inspect` never panics.

mod fmp4_support;

use bytes::Bytes;
use fmp4_support::*;
use proptest::prelude::*;
use vigil_core::fmp4::{inspect, Fmp4Error, Mp4File};
use vigil_core::packet::{TrackKind, VideoCodec};

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn parse(data: &[u8]) -> Result<Mp4File, Fmp4Error> {
    Mp4File::parse(Bytes::copy_from_slice(data))
}

/// ffprobe's view of one stream's packets: (pts in its time base, size, keyframe).
fn probe_packets(name: &str, stream: &str) -> Vec<(i64, usize, bool)> {
    ffprobe(
        &fixture(name),
        &[
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts,size,flags",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].contains('K'),
        )
    })
    .collect()
}

#[test]
fn fixtures_read_exactly_as_ffprobe_sees_them() {
    for (name, codec) in [
        ("h264.mp4", VideoCodec::H264),
        ("h265.mp4", VideoCodec::H265),
        ("h264_aac.mp4", VideoCodec::H264),
    ] {
        let f = open_fixture(name);
        let v = &f.params.video;
        assert_eq!((v.codec, v.width, v.height), (codec, 320, 180), "{name}");
        assert_eq!(v.config[0], 1, "{name}: configurationVersion of avcC/hvcC");
        assert_eq!(f.video_duration, 4 * 90_000, "{name}");
        let video: Vec<_> = f
            .samples
            .iter()
            .filter(|s| s.track == TrackKind::Video)
            .collect();
        // ffmpeg's time base here is 1/15360: 1024 per frame = 6000 at 90 kHz.
        let want: Vec<_> = probe_packets(name, "v")
            .into_iter()
            .map(|(pts, size, key)| (pts * 90_000 / 15_360, size, key))
            .collect();
        let got: Vec<_> = video
            .iter()
            .map(|s| (s.pts, s.data.len(), s.keyframe))
            .collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(video.iter().filter(|s| s.keyframe).count(), 4);
    }
}

#[test]
fn aac_track_is_read_and_interleaved_by_time() {
    let f = open_fixture("h264_aac.mp4");
    let a = f.params.audio.as_ref().expect("audio params");
    assert_eq!((a.sample_rate, a.channels), (48_000, 1));
    // AAC-LC (2), 48 kHz (index 3), mono: 00010 0011 0001 000, then ffmpeg's explicit
    // "no SBR" sync extension (0x2b7, 5, 0).
    assert_eq!(&a.config[..], &[0x11, 0x88, 0x56, 0xe5, 0x00]);
    let audio: Vec<_> = f
        .samples
        .iter()
        .filter(|s| s.track == TrackKind::Audio)
        .collect();
    let want = probe_packets("h264_aac.mp4", "a");
    assert_eq!(audio.len(), want.len());
    // ffprobe applies the AAC priming edit list (the first frame at -1024); the reader, like
    // the clip writer, ignores edit lists.
    let shift = want[0].0;
    for (s, (pts, size, _)) in audio.iter().zip(&want) {
        assert_eq!((s.pts, s.data.len()), (*pts - shift, *size));
        assert!(s.keyframe);
    }
    let last = want.last().unwrap().0 - shift;
    assert!(f.audio_duration > last && f.audio_duration <= last + 1024);
    // Merged by time: never goes back by more than the interleaving of two tracks allows.
    let secs = |s: &vigil_core::fmp4::Sample| match s.track {
        TrackKind::Video => s.pts as f64 / 90_000.0,
        TrackKind::Audio => s.pts as f64 / 48_000.0,
    };
    for w in f.samples.windows(2) {
        assert!(secs(&w[1]) >= secs(&w[0]), "{:?} then {:?}", w[0], w[1]);
    }
    // Zero-copy: the sample data points into the file's buffer.
    let file = Bytes::from(fixture_bytes("h264_aac.mp4"));
    let range = file.as_ptr() as usize..file.as_ptr() as usize + file.len();
    let f = Mp4File::parse(file.clone()).unwrap();
    assert!(f
        .samples
        .iter()
        .all(|s| range.contains(&(s.data.as_ptr() as usize))));
}

#[test]
fn truncated_files_are_malformed() {
    for name in ["h264.mp4", "h265.mp4", "h264_aac.mp4"] {
        let data = fixture_bytes(name);
        for cut in (0..data.len()).step_by(89) {
            match parse(&data[..cut]) {
                Err(Fmp4Error::Malformed(_)) => {}
                other => panic!("{name} cut at {cut}: {:?}", other.map(|f| f.samples.len())),
            }
        }
        assert!(parse(&data).is_ok());
    }
}

/// Offset of the first occurrence of a box type in the file (the byte after its size).
fn find_box(data: &[u8], kind: &[u8; 4]) -> usize {
    data.windows(4)
        .position(|w| w == kind)
        .expect("box present")
        - 4
}

#[test]
fn tables_that_disagree_are_malformed() {
    let data = fixture_bytes("h264.mp4");
    let cases: [(&[u8; 4], usize, u32); 5] = [
        (b"stts", 16, 61),          // first run's sample count: one more than stsz has
        (b"stts", 16, 59),          // one fewer
        (b"stsz", 16, 0xffff_ffff), // sample count: no room for it (must not allocate it)
        (b"stco", 16, 0x7fff_0000), // chunk offset past the end of the file
        (b"stsc", 16, 2),           // first run must start at chunk 1
    ];
    for (kind, at, value) in cases {
        let mut bad = data.clone();
        let pos = find_box(&bad, kind) + at;
        bad[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
        let r = parse(&bad);
        assert!(
            matches!(r, Err(Fmp4Error::Malformed(_))),
            "{}: {:?}",
            String::from_utf8_lossy(kind),
            r.err()
        );
    }
}

#[test]
fn a_file_without_video_is_unsupported() {
    let data = fixture_bytes("h264.mp4");
    let mut bad = data.clone();
    let pos = find_box(&bad, b"hdlr") + 16;
    bad[pos..pos + 4].copy_from_slice(b"meta");
    assert!(matches!(parse(&bad), Err(Fmp4Error::Unsupported(_))));
}

#[test]
fn inspect_shows_the_tree_of_a_source_file() {
    let tree = inspect(&fixture_bytes("h264_aac.mp4"));
    for want in [
        "ftyp @0",
        "moov @",
        "  trak @",
        "avc1 @",
        "width=320 height=180",
        "mp4a @",
        "stsz @",
        "mdat @",
    ] {
        assert!(tree.contains(want), "missing {want} in\n{tree}");
    }
    assert!(!tree.contains("!malformed"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_are_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(parse(&bytes).is_err());
        let _ = inspect(&bytes);
    }

    #[test]
    fn damaged_fixtures_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u32>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let name = ["h264.mp4", "h265.mp4", "h264_aac.mp4"][which];
        let mut data = fixture_bytes(name);
        // Most edits land in the moov (the first ~2 KB with +faststart): sizes, counts, offsets.
        for (i, v) in edits {
            let at = i.index(2048.min(data.len() - 4));
            data[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        data.truncate(cut.index(data.len() + 1).max(data.len() / 2));
        let _ = parse(&data);
        let _ = inspect(&data);
    }
}
