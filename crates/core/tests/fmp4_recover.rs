//! recover(): a clip cut anywhere (crash, power loss) comes back as its whole fragments, and
//! plays cleanly in ffmpeg with the duration of exactly those fragments.

mod fmp4_support;

use std::path::{Path, PathBuf};

use fmp4_support::*;
use proptest::prelude::*;
use vigil_core::fmp4::{inspect, recover, ClipWriter, Fmp4Error};

/// A finished clip made from a fixture, in its own temp dir.
fn clip(fixture: &str) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let src = open_fixture(fixture);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_clip(dir.path(), "clip.mp4", &src.params, &packets(&src));
    let data = std::fs::read(&path).unwrap();
    (dir, path, data)
}

fn moov_end(data: &[u8]) -> usize {
    let b = top_boxes(data);
    assert_eq!((b[0].0.as_str(), b[1].0.as_str()), ("ftyp", "moov"));
    b[1].1 + b[1].2
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn a_good_clip_is_left_untouched() {
    for fixture in ["h264.mp4", "h264_aac.mp4"] {
        let (_d, path, before) = clip(fixture);
        let r = recover(&path).unwrap();
        assert!(!r.truncated);
        assert_eq!(
            (r.original_bytes, r.kept_bytes),
            (before.len() as u64, before.len() as u64)
        );
        let frags = fragments(&before);
        assert_eq!(r.fragments, frags.len() as u64);
        assert_eq!(r.video_samples, 60);
        assert!((r.duration_secs - 4.0).abs() < 1e-9);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{fixture}: bytes changed"
        );
    }
}

/// Cuts the clip at `cut`, recovers, and checks the result against the fragments known to end
/// at or before the cut. Returns the expected video duration in seconds.
fn check_cut(dir: &Path, data: &[u8], cut: usize, has_audio: bool) -> Option<f64> {
    let path = write_file(dir, "cut.mp4", &data[..cut]);
    let moov_end = moov_end(data);
    let r = match recover(&path) {
        Err(Fmp4Error::Malformed(_)) if cut < moov_end => {
            assert_eq!(
                std::fs::metadata(&path).unwrap().len() as usize,
                cut,
                "untouched"
            );
            return None;
        }
        other => other.unwrap_or_else(|e| panic!("cut at {cut}: {e}")),
    };
    assert!(
        cut >= moov_end,
        "cut at {cut} inside the moov must be Malformed"
    );
    let frags = fragments(data);
    let whole: Vec<_> = frags.iter().filter(|f| f.0 <= cut).collect();
    let last_end = whole.last().map_or(moov_end, |f| f.0);
    let want_kept = if cut == data.len() { cut } else { last_end };
    assert_eq!(r.kept_bytes as usize, want_kept, "cut at {cut}");
    assert_eq!(r.truncated, want_kept < cut);
    assert_eq!(r.fragments as usize, whole.len());
    let ticks: u64 = whole.iter().map(|f| f.1).sum();
    assert!((r.duration_secs - ticks as f64 / 90_000.0).abs() < 1e-9);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), r.kept_bytes);
    // The patched header says the same, in ms (audio may end a little after the video).
    let after = std::fs::read(&path).unwrap();
    let ms = (ticks * 1000 + 45_000) / 90_000;
    let mehd = mehd_duration(&after);
    let slack = if has_audio { 70 } else { 0 };
    assert!(
        mehd >= ms && mehd <= ms + slack,
        "cut at {cut}: mehd {mehd} vs video {ms} ms"
    );
    // Idempotent.
    let again = recover(&path).unwrap();
    assert!(!again.truncated);
    assert_eq!(again.kept_bytes, r.kept_bytes);
    assert_eq!(std::fs::read(&path).unwrap(), after);
    Some(r.duration_secs)
}

/// The mehd duration, as `inspect` prints it.
fn mehd_duration(data: &[u8]) -> u64 {
    let tree = inspect(data);
    let line = tree
        .lines()
        .find(|l| l.trim_start().starts_with("mehd @"))
        .unwrap();
    line.rsplit("duration=").next().unwrap().parse().unwrap()
}

fn cut_points(data: &[u8]) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..data.len()).step_by(257).collect();
    for f in fragments(data) {
        cuts.extend([f.0 - 1, f.0, f.0 + 1, f.0 + 8, f.0 + 9]);
    }
    let m = moov_end(data);
    cuts.extend([m - 1, m, m + 4, data.len() - 1, data.len()]);
    cuts.retain(|&c| c <= data.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn a_clip_cut_anywhere_recovers_to_its_whole_fragments() {
    for fixture in ["h264.mp4", "h264_aac.mp4"] {
        let (dir, _path, data) = clip(fixture);
        let cuts = cut_points(&data);
        assert!(cuts.len() > 200, "{}", cuts.len());
        for (i, &cut) in cuts.iter().enumerate() {
            let Some(duration) = check_cut(dir.path(), &data, cut, fixture.contains("aac")) else {
                continue;
            };
            // The real player on a sample of them: decodes cleanly, lasts what was kept.
            if duration > 0.0 && i % 12 == 0 {
                let path = dir.path().join("cut.mp4");
                assert_eq!(decode_errors(&path, &[]), "", "{fixture} cut at {cut}");
                let got = format_duration(&path);
                // With audio, the last fragment's audio may run up to ~a frame past its video.
                let slack = if fixture.contains("aac") { 0.07 } else { 0.002 };
                assert!(
                    got >= duration - 0.002 && got <= duration + slack,
                    "{fixture} cut at {cut}: {got} vs {duration}"
                );
            }
        }
    }
}

#[test]
fn zeros_after_a_power_loss_are_cut() {
    let (dir, _p, data) = clip("h264.mp4");
    let frags = fragments(&data);
    // Crashed mid-recording: no mfra yet, then a zero-filled tail.
    let end = frags[1].0;
    let mut torn = data[..end].to_vec();
    torn.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let path = write_file(dir.path(), "zeros.mp4", &torn);
    let r = recover(&path).unwrap();
    assert_eq!(
        (r.kept_bytes as usize, r.truncated, r.fragments),
        (end, true, 2)
    );
    assert_eq!(decode_errors(&path, &[]), "");
    // Zeros after a finished clip: the mfra stays, the zeros go.
    let mut padded = data.clone();
    padded.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let path = write_file(dir.path(), "padded.mp4", &padded);
    let r = recover(&path).unwrap();
    assert_eq!((r.kept_bytes as usize, r.truncated), (data.len(), true));
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn a_fragment_whose_sizes_disagree_with_its_mdat_is_cut() {
    let (dir, _p, data) = clip("h264.mp4");
    let frags = fragments(&data);
    let boxes = top_boxes(&data);
    let last_moof = boxes.iter().rfind(|b| b.0 == "moof").unwrap().1;
    // First sample size of the last fragment's trun: moof(8) mfhd(16) traf(8) tfhd(16) tfdt(20)
    // trun header(8) + version(4) + count(4) + data_offset(4) + duration(4).
    let at = last_moof + 8 + 16 + 8 + 16 + 20 + 8 + 4 + 4 + 4 + 4;
    // One byte fewer (the data still lies inside the mdat, but doesn't fill it) or one more.
    for delta in [-1i64, 1] {
        let mut bad = data.clone();
        let size = u32::from_be_bytes(bad[at..at + 4].try_into().unwrap());
        let size = (i64::from(size) + delta) as u32;
        bad[at..at + 4].copy_from_slice(&size.to_be_bytes());
        let path = write_file(dir.path(), "bad.mp4", &bad);
        let r = recover(&path).unwrap();
        assert_eq!(r.kept_bytes as usize, frags[frags.len() - 2].0, "{delta}");
        assert_eq!(r.fragments as usize, frags.len() - 1);
    }
    // The data offset moved by one: the sizes still add up, but the data runs past the mdat.
    let mut bad = data.clone();
    let off_at = at - 8;
    let off = u32::from_be_bytes(bad[off_at..off_at + 4].try_into().unwrap()) + 1;
    bad[off_at..off_at + 4].copy_from_slice(&off.to_be_bytes());
    let path = write_file(dir.path(), "bad_offset.mp4", &bad);
    assert_eq!(
        recover(&path).unwrap().kept_bytes as usize,
        frags[frags.len() - 2].0
    );
}

#[test]
fn a_damaged_index_is_dropped() {
    let (dir, _p, data) = clip("h264.mp4");
    let frags = fragments(&data);
    let mut bad = data.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x10; // mfro's size no longer matches the mfra
    let path = write_file(dir.path(), "bad_mfra.mp4", &bad);
    let r = recover(&path).unwrap();
    assert_eq!((r.kept_bytes as usize, r.truncated), (frags[3].0, true));
    assert_eq!(decode_errors(&path, &[]), "");
}

#[test]
fn a_crashed_clip_gets_its_duration_back() {
    // The writer never finished (process killed): mehd still says 0.
    let src = open_fixture("h264.mp4");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.mp4");
    let mut w = ClipWriter::create(&path, &src.params).unwrap();
    for p in packets(&src).iter().take(40) {
        w.write(p).unwrap();
    }
    std::mem::forget(w);
    let before = std::fs::read(&path).unwrap();
    assert!(inspect(&before).contains("duration=0\n"));
    let r = recover(&path).unwrap();
    assert!(
        !r.truncated,
        "nothing torn: only whole fragments were written"
    );
    assert_eq!((r.fragments, r.video_samples), (2, 30));
    assert!((r.duration_secs - 2.0).abs() < 1e-9);
    let after = std::fs::read(&path).unwrap();
    assert_eq!(mehd_duration(&after), 2000);
    assert!((format_duration(&path) - 2.0).abs() < 0.002);
}

#[test]
fn not_a_clip_is_malformed_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fixture("h264.mp4"); // an ordinary MP4: no mvex, must not be "recovered"
    let copy = write_file(dir.path(), "plain.mp4", &std::fs::read(&plain).unwrap());
    assert!(matches!(recover(&copy), Err(Fmp4Error::Malformed(_))));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&plain).unwrap()
    );
    let empty = write_file(dir.path(), "empty.mp4", &[]);
    assert!(matches!(recover(&empty), Err(Fmp4Error::Malformed(_))));
    assert!(matches!(
        recover(&dir.path().join("missing.mp4")),
        Err(Fmp4Error::Io { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn recover_never_panics_on_damaged_clips(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (dir, _p, data) = clip("h264.mp4");
        let mut bad = data.clone();
        for (i, v) in flips {
            let at = i.index(bad.len());
            bad[at] = v;
        }
        bad.truncate(cut.index(bad.len() + 1));
        let path = write_file(dir.path(), "bad.mp4", &bad);
        if let Ok(r) = recover(&path) {
            prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), r.kept_bytes);
            prop_assert!(r.kept_bytes <= bad.len() as u64);
        }
    }

    #[test]
    fn recover_never_panics_on_random_files(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "random.mp4", &bytes);
        let _ = recover(&path);
    }
}
