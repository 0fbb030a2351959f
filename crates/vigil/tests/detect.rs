//! vigil's own motion detection against media with a known truth, made here with ffmpeg
//! (docs/detection.md): an object crossing at known seconds is found within 1 s of its start,
//! and heavy noise, a slow light change, a sudden brightness step and an object in a masked
//! area raise nothing. The media go through the real parts (the MP4 reader, the looping-file
//! timeline, OpenH264, the model) packet by packet, on media time: no clock, no sleeping.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil::detect::model::{Change, Params};
use vigil::detect::{Analyzer, DetectConfig, Polygon};
use vigil::ingest::file::LoopingFile;
use vigil::ingest::SourceEvent;
use vigil_core::fmp4::Mp4File;
use vigil_core::time::Time;

const SECS: f64 = 12.0;

/// A 640x360 15 fps H.264 clip of `SECS` s: a grey scene with light sensor noise, through
/// `filters` (an ffmpeg filter chain on `[bg]`, ending in `[out]`).
fn make(dir: &Path, name: &str, filters: &str) -> PathBuf {
    let out = dir.join(format!("{name}.mp4"));
    let graph = format!(
        "color=c=0x707070:s=640x360:r=15:d={SECS},format=yuv420p,noise=alls=4:allf=t[bg];\
         color=c=white:s=60x60:r=15:d={SECS},format=yuv420p[box];{filters}"
    );
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-filter_complex",
            &graph,
            "-map",
            "[out]",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-bf", "0",
        ])
        .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg made {name}");
    out
}

/// The box crossing between `from` and `to` seconds at height `y`, from x = `x0` to `x1`.
fn crossing(from: f64, to: f64, x0: f64, x1: f64) -> String {
    let speed = (x1 - x0) / (to - from);
    format!(
        "[bg][box]overlay=x='if(between(t,{from},{to}),{x0}+(t-{from})*{speed},-200)':y=150[out]"
    )
}

/// Changes the detector reports over one pass of `file`, at media seconds from its start.
fn detect(file: &Path, masks: Vec<Polygon>) -> (Vec<(bool, f64)>, vigil::detect::DetectStats) {
    let cfg = DetectConfig {
        url: None,
        params: Params::default(),
        zones: Vec::new(),
        masks,
    };
    let mut a = Analyzer::new("test", cfg);
    let mut src = LoopingFile::new(Mp4File::open(file).unwrap(), Time(0));
    let mut out = Vec::new();
    let mut note = |c: Option<Change>| match c {
        Some(Change::Started { at }) => out.push((true, at)),
        Some(Change::Ended { at }) => out.push((false, at)),
        None => {}
    };
    note(a.on_event(SourceEvent::Params(src.params()), Time(0)));
    let mut last = Time(0);
    while let Some(p) = src.next_packet() {
        if p.time.0 as f64 / 1e6 >= SECS {
            break;
        }
        last = p.time;
        let t = p.time;
        note(a.on_event(SourceEvent::Packet(p), t));
    }
    note(a.finish(last));
    (out, a.stats())
}

fn left_half() -> Polygon {
    vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
}

#[test]
fn an_object_crossing_is_found_within_a_second_of_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let f = make(dir.path(), "crossing", &crossing(4.0, 8.0, 0.0, 580.0));
    let (changes, stats) = detect(&f, Vec::new());
    assert_eq!(stats.decode_errors, 0, "{stats:?}");
    assert!(stats.frames_decoded >= 170, "{stats:?}");
    assert_eq!(changes.len(), 2, "one start and its end: {changes:?}");
    let (on, start) = changes[0];
    assert!(
        on && (4.0..=5.0).contains(&start),
        "start {start} vs truth 4.0"
    );
    let (on, end) = changes[1];
    assert!(!on && (8.0..=10.5).contains(&end), "end {end} vs truth 8.0");
}

#[test]
fn noise_slow_light_and_a_brightness_step_raise_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, chain) in [
        ("heavy-noise", "[bg]noise=alls=40:allf=t+u[out]".to_owned()),
        (
            "slow-light",
            "[bg]eq=brightness='-0.25+t*0.04':eval=frame[out]".to_owned(),
        ),
        (
            "brightness-step",
            "[bg]eq=brightness='if(gte(t,6),0.3,0)':eval=frame[out]".to_owned(),
        ),
    ] {
        let chain = format!("{chain};[box]nullsink");
        let f = make(dir.path(), name, &chain);
        let (changes, stats) = detect(&f, Vec::new());
        assert!(changes.is_empty(), "{name}: {changes:?}");
        assert!(stats.frames_analyzed >= 55, "{name}: {stats:?}");
    }
}

#[test]
fn an_object_in_a_masked_area_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The box crosses the left half only.
    let f = make(dir.path(), "masked", &crossing(4.0, 8.0, 0.0, 250.0));
    let (changes, _) = detect(&f, vec![left_half()]);
    assert!(changes.is_empty(), "masked: {changes:?}");
    let (changes, _) = detect(&f, Vec::new());
    assert_eq!(changes.len(), 2, "and found without the mask: {changes:?}");
}
