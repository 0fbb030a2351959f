//! Disk and hybrid modes flush exactly what memory mode flushes, and clean up their spool.

#[path = "prebuffer_streams.rs"]
mod streams;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::{BufferConfig, BufferError, PreBuffer, PushOutcome, DISK_ENTRY_CHARGE};
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

use streams::{build, spec, StreamSpec};

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

fn config(mode: BufferMode, window_ms: u64, thin: bool, hybrid: u64, dir: &Path) -> BufferConfig {
    BufferConfig {
        window: Duration::from_millis(window_ms),
        mode,
        keyframe_only: thin,
        hybrid_memory_bytes: hybrid,
        spool_dir: dir.to_path_buf(),
    }
}

/// Every flush of the stream (the scheduled ones, then a final one), as packets.
fn flushes(b: &mut PreBuffer, s: &StreamSpec, dir: &Path) -> Vec<Vec<Packet>> {
    let st = build(s);
    let mut out = vec![];
    let mut next = st.flushes.iter().peekable();
    for (i, p) in st.packets.iter().enumerate() {
        b.push(p.clone()).unwrap();
        // Segments go as their GOPs go: at most one per GOP held, plus the one being written.
        assert!(files_in(dir) as u64 <= b.stats().gops + 1, "stale segments");
        if let Some(&(_, at)) = next.next_if(|f| f.0 == i) {
            out.push(b.flush(at).into_packets().unwrap());
        }
    }
    let at = st.packets[st.packets.len() - 1].time;
    out.push(b.flush(at).into_packets().unwrap());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn disk_and_hybrid_flush_exactly_what_memory_flushes(
        window_ms in 0u64..=20_000,
        thin in any::<bool>(),
        hybrid_budget in 0u64..20_000,
        segment_target in 1u64..64_000,
        s in spec(25),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mem_dir = tmp.path().join("never-created");
        let mut mem = PreBuffer::new(config(BufferMode::Memory, window_ms, thin, 0, &mem_dir)).unwrap();
        let want = flushes(&mut mem, &s, &mem_dir);
        prop_assert!(!mem_dir.exists(), "memory mode touched the disk");
        for (mode, budget) in [(BufferMode::Disk, 0), (BufferMode::Hybrid, hybrid_budget)] {
            let dir = tmp.path().join(mode.as_str());
            let mut b = PreBuffer::new(config(mode, window_ms, thin, budget, &dir)).unwrap();
            b.set_segment_target(segment_target);
            let got = flushes(&mut b, &s, &dir);
            prop_assert_eq!(&got, &want, "{} differs from memory", mode);
            let st = b.stats();
            prop_assert_eq!(st.spool_errors, 0);
            drop(b);
            prop_assert!(!dir.exists() || files_in(&dir) == 0, "spool left behind");
        }
    }
}

fn video(ms: i64, key: bool, len: usize) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: ms * 90,
        time: Time(ms * 1_000),
        keyframe: key,
        data: Bytes::from(vec![(ms % 251) as u8; len]),
    }
}

#[test]
fn hybrid_demotes_oldest_gops_beyond_its_memory_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cam");
    let mut b = PreBuffer::new(config(BufferMode::Hybrid, 60_000, false, 2_500, &dir)).unwrap();
    for s in 0..6 {
        for f in 0..10 {
            b.push(video(s * 1000 + f * 100, f == 0, 100)).unwrap();
        }
    }
    // 6 GOPs of 1000 B, budget 2500: the two newest stay in memory.
    let st = b.stats();
    assert_eq!((st.bytes, st.disk_bytes), (6_000, 4_000));
    assert_eq!(st.memory_bytes, 2_000 + 40 * DISK_ENTRY_CHARGE);
    assert!(files_in(&dir) >= 1);
    let f = b.flush(Time::from_secs(6));
    assert_eq!(f.len(), 60);
    // The flush holds the segment until it is read, even though the buffer let go of it.
    let pkts = f.into_packets().unwrap();
    assert_eq!(pkts.len(), 60);
    assert_eq!(files_in(&dir), 0, "segments deleted once flushed and read");
    drop(b);
    assert!(!dir.exists(), "spool directory removed on drop");

    // A budget smaller than one GOP: the open GOP itself goes to disk and grows there.
    let mut b = PreBuffer::new(config(BufferMode::Hybrid, 60_000, false, 250, &dir)).unwrap();
    for i in 0..50 {
        b.push(video(i * 100, i % 10 == 0, 100)).unwrap();
        let st = b.stats();
        assert!(st.bytes - st.disk_bytes <= 250, "{st:?}");
    }
    assert_eq!(b.stats().packets, 50);
    assert_eq!(
        b.flush(Time::from_secs(5)).into_packets().unwrap().len(),
        50
    );
}

#[test]
fn disk_mode_keeps_only_an_index_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cam");
    let mut b = PreBuffer::new(config(BufferMode::Disk, 5_000, false, 0, &dir)).unwrap();
    for i in 0..100 {
        b.push(video(i * 33, i % 30 == 0, 5_000)).unwrap();
    }
    let st = b.stats();
    assert_eq!(st.disk_bytes, st.bytes);
    assert_eq!(st.memory_bytes, st.packets * DISK_ENTRY_CHARGE);
    b.clear();
    assert_eq!(files_in(&dir), 0, "clear deletes the spool files");
}

#[test]
fn segments_are_deleted_as_their_gops_are_evicted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cam");
    let mut b = PreBuffer::new(config(BufferMode::Disk, 2_000, false, 0, &dir)).unwrap();
    b.set_segment_target(10_000);
    for i in 0..3_000 {
        b.push(video(i * 33, i % 30 == 0, 1_000)).unwrap();
        assert!(files_in(&dir) <= 5, "{} files", files_in(&dir));
    }
}

#[test]
fn a_spool_dir_that_cannot_be_created_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("spool");
    for mode in [BufferMode::Disk, BufferMode::Hybrid] {
        let Err(e) = PreBuffer::new(config(mode, 5_000, false, 0, &bad)) else {
            panic!("{mode} buffer created under a file");
        };
        assert!(
            matches!(&e, BufferError::Spool { path, .. } if path == &bad),
            "{e:?}"
        );
        assert!(e.to_string().contains("plain-file/spool"), "{e}");
    }
    // Through the pool, and when switching modes live: nothing changes, memory mode goes on.
    let pool = Pool::new(1 << 20);
    assert!(pool
        .register("a", config(BufferMode::Disk, 5_000, false, 0, &bad))
        .is_err());
    assert_eq!(pool.stats().buffers, 0);
    let h = pool
        .register("a", config(BufferMode::Memory, 5_000, false, 0, &bad))
        .unwrap();
    h.push(video(0, true, 100)).unwrap();
    assert!(h
        .reconfigure(config(BufferMode::Disk, 5_000, false, 0, &bad))
        .is_err());
    let st = h.stats();
    assert_eq!((st.mode, st.packets), (BufferMode::Memory, 1));
    assert_eq!(h.push(video(33, false, 100)).unwrap(), PushOutcome::Held);
}

#[test]
fn dropping_a_handle_deletes_its_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cam");
    let pool = Pool::new(1 << 30);
    let h = pool
        .register("cam", config(BufferMode::Disk, 5_000, false, 0, &dir))
        .unwrap();
    for i in 0..200 {
        h.push(video(i * 33, i % 30 == 0, 2_000)).unwrap();
    }
    assert!(files_in(&dir) > 0);
    drop(h);
    assert!(!dir.exists());
    assert_eq!(pool.stats().used_bytes, 0);
}
