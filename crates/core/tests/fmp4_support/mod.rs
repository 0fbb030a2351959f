//! Shared by the `fmp4_*` integration tests: fixtures, the real ffmpeg/ffprobe, and an
//! independent top-level box walker (so tests don't check the code with itself).
//!
//! The fixtures in `tests/fixtures/` were made once with:
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
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_core::fmp4::{ClipSummary, ClipWriter, Mp4File, WriteOutcome};
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::time::{Time, MICROS_PER_SEC};

pub const BASE_SECS: i64 = 1_700_000_000;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn open_fixture(name: &str) -> Mp4File {
    Mp4File::open(&fixture(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

/// Every sample of a file as a packet, wall time = BASE_SECS + pts / timescale.
pub fn packets(f: &Mp4File) -> Vec<Packet> {
    f.samples
        .iter()
        .map(|s| {
            let ts = f.params.timescale(s.track) as i64;
            Packet {
                track: s.track,
                pts: s.pts,
                time: Time::from_secs(BASE_SECS).plus_micros(s.pts * MICROS_PER_SEC / ts),
                keyframe: s.keyframe,
                data: s.data.clone(),
            }
        })
        .collect()
}

/// Writes `packets` into a new clip at `dir/name` and finishes it.
pub fn write_clip(
    dir: &Path,
    name: &str,
    params: &StreamParams,
    packets: &[Packet],
) -> (PathBuf, ClipSummary) {
    let path = dir.join(name);
    let mut w = ClipWriter::create(&path, params).expect("create clip");
    for p in packets {
        assert_eq!(w.write(p).expect("write"), WriteOutcome::Queued, "{p:?}");
    }
    let summary = w.finish().expect("finish");
    (path, summary)
}

fn run(tool: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{tool}` ({e}): these tests need ffmpeg and ffprobe on PATH \
             (Debian: apt-get install ffmpeg)"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    (stdout, stderr)
}

/// `ffprobe -v error ARGS PATH`, stdout.
pub fn ffprobe(path: &Path, args: &[&str]) -> String {
    let p = path.to_str().expect("utf-8 path");
    let mut all = vec!["-v", "error"];
    all.extend_from_slice(args);
    all.push(p);
    run("ffprobe", &all).0
}

/// Decodes the whole file with ffmpeg; returns what it printed to stderr at level error.
pub fn decode_errors(path: &Path, extra_input_args: &[&str]) -> String {
    let p = path.to_str().expect("utf-8 path");
    let mut all = vec!["-nostdin", "-v", "error"];
    all.extend_from_slice(extra_input_args);
    all.extend_from_slice(&["-i", p, "-f", "null", "-"]);
    run("ffmpeg", &all).1
}

pub fn format_duration(path: &Path) -> f64 {
    let s = ffprobe(
        path,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    );
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no duration from ffprobe: {s:?}"))
}

pub fn video_packet_count(path: &Path) -> u64 {
    let s = ffprobe(
        path,
        &[
            "-select_streams",
            "v",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ],
    );
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no packet count: {s:?}"))
}

pub fn video_packet_flags(path: &Path) -> Vec<String> {
    ffprobe(
        path,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(d[at..at + 4].try_into().unwrap())
}

/// Top-level boxes of a well-formed file: (type, offset, size).
pub fn top_boxes(d: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = vec![];
    let mut pos = 0;
    while pos + 8 <= d.len() {
        let size = be32(d, pos) as usize;
        assert!(size >= 8 && pos + size <= d.len(), "bad box at {pos}");
        out.push((
            String::from_utf8_lossy(&d[pos + 4..pos + 8]).into_owned(),
            pos,
            size,
        ));
        pos += size;
    }
    out
}

/// For each fragment of a clip we wrote: (end offset of its mdat, video ticks in it), found by
/// walking moof/traf/trun by hand. Video is track 1; trun carries duration/size/flags.
pub fn fragments(d: &[u8]) -> Vec<(usize, u64)> {
    let boxes = top_boxes(d);
    let mut out = vec![];
    for w in boxes.windows(2) {
        let ((k, moof, moof_size), (k2, mdat, mdat_size)) = (&w[0], &w[1]);
        if k != "moof" || k2 != "mdat" {
            continue;
        }
        let mut ticks = 0u64;
        let mut pos = moof + 8;
        while pos < moof + moof_size {
            let (size, kind) = (be32(d, pos) as usize, &d[pos + 4..pos + 8]);
            if kind == b"traf" {
                let track = be32(d, pos + 8 + 12);
                let mut p = pos + 8;
                while p < pos + size {
                    let (s, k) = (be32(d, p) as usize, &d[p + 4..p + 8]);
                    if k == b"trun" && track == 1 {
                        let n = be32(d, p + 12) as usize;
                        for i in 0..n {
                            ticks += u64::from(be32(d, p + 20 + 12 * i));
                        }
                    }
                    p += s;
                }
            }
            pos += size;
        }
        assert_eq!(mdat, &(moof + moof_size));
        out.push((mdat + mdat_size, ticks));
    }
    out
}

pub fn video_packets(packets: &[Packet]) -> usize {
    packets
        .iter()
        .filter(|p| p.track == TrackKind::Video)
        .count()
}

fn be64(d: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(d[at..at + 8].try_into().unwrap())
}

/// Child boxes of the box at `at`, skipping `skip` bytes of its body: (type, offset, size).
fn children(d: &[u8], at: usize, skip: usize) -> Vec<([u8; 4], usize, usize)> {
    let end = at + be32(d, at) as usize;
    let mut pos = at + 8 + skip;
    let mut out = vec![];
    while pos < end {
        let size = be32(d, pos) as usize;
        out.push((d[pos + 4..pos + 8].try_into().unwrap(), pos, size));
        pos += size;
    }
    out
}

/// Checks the trailing mfra against the fragments, by hand: each tfra entry points at a moof
/// whose numbered traf belongs to the track, and whose numbered sample is a sync sample at the
/// entry's time. Returns the number of entries per track id (1 = video, 2 = audio).
pub fn check_mfra(d: &[u8]) -> std::collections::BTreeMap<u32, usize> {
    let (kind, mfra, size) = top_boxes(d).pop().unwrap();
    assert_eq!(kind, "mfra");
    assert_eq!(
        be32(d, d.len() - 4) as usize,
        size,
        "mfro gives the mfra size"
    );
    let mut counts = std::collections::BTreeMap::new();
    for (kind, tfra, _) in children(d, mfra, 0) {
        if &kind != b"tfra" {
            continue;
        }
        assert_eq!(d[tfra + 8], 1, "tfra version 1");
        let track = be32(d, tfra + 12);
        let lens = be32(d, tfra + 16) as usize;
        let (lt, lr, ls) = ((lens >> 4 & 3) + 1, (lens >> 2 & 3) + 1, (lens & 3) + 1);
        let n = be32(d, tfra + 20) as usize;
        let mut p = tfra + 24;
        let num = |p: usize, len: usize| {
            d[p..p + len]
                .iter()
                .fold(0usize, |a, &b| a << 8 | b as usize)
        };
        for _ in 0..n {
            let (time, moof) = (be64(d, p), be64(d, p + 8) as usize);
            let traf_no = num(p + 16, lt);
            let trun_no = num(p + 16 + lt, lr);
            let sample_no = num(p + 16 + lt + lr, ls);
            p += 16 + lt + lr + ls;
            assert_eq!(
                &d[moof + 4..moof + 8],
                b"moof",
                "tfra entry points at a moof"
            );
            let trafs: Vec<_> = children(d, moof, 0)
                .into_iter()
                .filter(|c| &c.0 == b"traf")
                .collect();
            let traf = trafs[traf_no - 1].1;
            let kids = children(d, traf, 0);
            let tfhd = kids.iter().find(|c| &c.0 == b"tfhd").unwrap().1;
            assert_eq!(be32(d, tfhd + 12), track, "traf {traf_no} is the track's");
            let base = be64(d, kids.iter().find(|c| &c.0 == b"tfdt").unwrap().1 + 12);
            let trun = kids
                .iter()
                .filter(|c| &c.0 == b"trun")
                .nth(trun_no - 1)
                .unwrap()
                .1;
            assert_eq!(be32(d, trun + 8) & 0xfff, 0x701);
            let entry = |i: usize| trun + 20 + 12 * i;
            let before: u64 = (0..sample_no - 1)
                .map(|i| u64::from(be32(d, entry(i))))
                .sum();
            assert_eq!(time, base + before, "tfra time");
            assert_eq!(
                be32(d, entry(sample_no - 1) + 8),
                0x0200_0000,
                "a sync sample"
            );
            *counts.entry(track).or_insert(0) += 1;
        }
    }
    counts
}
