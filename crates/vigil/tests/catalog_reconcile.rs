//! Start-up reconciliation of catalog rows with real clip files: every row gets its file and every
//! file its row, whatever a crash left behind.

mod common;

use bytes::Bytes;
use common::*;
use vigil::catalog::{Catalog, NewClip};
use vigil::clips::{safe_name, ClipStatus};
use vigil_core::fmp4::{ClipWriter, Mp4File};
use vigil_core::packet::{Packet, TrackKind, VIDEO_TIMESCALE};
use vigil_core::time::Time;

/// Writes the sample as a clip at `root/key`; `finish` = closed properly, else left as killed.
fn write_clip(root: &std::path::Path, key: &str, finish: bool) -> u64 {
    let f = Mp4File::parse(Bytes::from_static(SAMPLE_H264_AAC)).unwrap();
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ClipWriter::create(&path, &f.params).unwrap();
    let sr = f.params.audio.as_ref().unwrap().sample_rate as i64;
    for s in &f.samples {
        let ts = if s.track == TrackKind::Video {
            VIDEO_TIMESCALE as i64
        } else {
            sr
        };
        w.write(&Packet {
            track: s.track,
            pts: s.pts,
            time: T0.plus_micros(s.pts * 1_000_000 / ts),
            keyframe: s.keyframe,
            data: s.data.clone(),
        })
        .unwrap();
    }
    if finish {
        w.finish().unwrap();
    } else {
        std::mem::forget(w); // as if killed: no last fragment, no index, no durations
    }
    std::fs::metadata(&path).unwrap().len()
}

fn row(cat: &Catalog, camera: &str, key: &str) -> i64 {
    cat.insert_clip(&NewClip {
        camera,
        event_id: None,
        key,
        video_codec: "h264",
        width: 640,
        height: 360,
        trigger: "onvif",
    })
    .unwrap()
}

#[test]
fn every_row_gets_its_file_and_every_file_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clips");
    let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let cam = "front door";
    let d = format!("{}/2026-11-24", safe_name(cam));

    // 1. Killed mid-clip, with a torn tail: recovered.
    let killed = format!("{d}/20261124T100000Z_e1.mp4");
    let len = write_clip(&root, &killed, false);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(root.join(&killed))
        .unwrap();
    f.set_len(len - 1234).unwrap();
    let killed_id = row(&cat, cam, &killed);
    cat.set_clip_start(killed_id, Time::from_secs(1_795_600_000), 5.2)
        .unwrap();
    // 2. A row whose file never made it: dropped.
    let ghost = format!("{d}/20261124T110000Z_e2.mp4");
    row(&cat, cam, &ghost);
    // 3. A complete row whose file was deleted by hand: dropped.
    let deleted = format!("{d}/20261124T120000Z_e3.mp4");
    let deleted_id = row(&cat, cam, &deleted);
    cat.finish_clip(deleted_id, ClipStatus::Complete, &Default::default())
        .unwrap();
    // 4. A file whose row was never written (killed between the two): adopted.
    let orphan = format!("{d}/20261124T130000Z_e4.mp4");
    write_clip(&root, &orphan, true);
    // 5. Junk with a clip's name: removed.
    let junk = format!("{d}/20261124T140000Z_e5.mp4");
    std::fs::write(root.join(&junk), b"not an mp4 at all").unwrap();
    // 6. A good complete clip: untouched.
    let good = format!("{d}/20261124T150000Z_e6.mp4");
    write_clip(&root, &good, true);
    let good_id = row(&cat, cam, &good);
    cat.finish_clip(good_id, ClipStatus::Complete, &Default::default())
        .unwrap();
    let good_bytes = std::fs::read(root.join(&good)).unwrap();

    let report = cat.reconcile(&root, &[cam.to_owned()]).unwrap();
    assert_eq!(report.recovered, vec![killed_id]);
    let mut dropped = report.rows_dropped.clone();
    dropped.sort();
    assert_eq!(dropped, vec![ghost.clone(), deleted.clone()]);
    assert_eq!(report.files_adopted, vec![orphan.clone()]);
    assert_eq!(report.files_removed, vec![junk.clone()]);

    let k = cat.clip(killed_id).unwrap().unwrap();
    assert_eq!(k.status, ClipStatus::Recovered);
    assert!(k.duration_secs > 5.0 && k.frames > 0, "{k:?}");
    assert_eq!(k.pre_roll_secs, 5.2);
    assert_eq!(
        k.end.unwrap().micros_since(k.start.unwrap()),
        (k.duration_secs * 1e6).round() as i64
    );
    let facts = check_clip(&root.join(&killed));
    assert!(facts.first_video_packet_key);
    assert!((facts.duration - k.duration_secs).abs() < 0.1);

    let o = cat.clip_by_key(&orphan).unwrap().expect("adopted row");
    assert_eq!(o.camera, cam, "camera name found from its folder");
    assert_eq!(o.status, ClipStatus::Recovered);
    assert_eq!(
        (o.video_codec.as_str(), o.width, o.height),
        ("h264", 640, 360)
    );
    assert_eq!(
        o.start,
        Some(Time::from_secs(1_795_525_200)),
        "from the file name's stamp"
    );

    assert!(!root.join(&junk).exists());
    assert_eq!(
        std::fs::read(root.join(&good)).unwrap(),
        good_bytes,
        "a good clip is untouched"
    );

    // Now rows and files agree exactly, and a second pass has nothing to do.
    let mut keys: Vec<String> = cat
        .clips(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    let mut files: Vec<String> = mp4s_under(&root)
        .into_iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(keys, files);
    assert_eq!(
        cat.reconcile(&root, &[cam.to_owned()]).unwrap(),
        Default::default()
    );
}
