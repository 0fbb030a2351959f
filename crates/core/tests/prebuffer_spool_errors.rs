//! A spool write failing (disk full) never corrupts the buffer: the packet is refused with `Err`,
//! its GOP takes no more packets until the next keyframe, and everything held still flushes.
//!
//! "Disk full" is simulated with `RLIMIT_FSIZE` (writes past the limit fail with EFBIG). The limit
//! is process-wide, so this file holds a single test.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::{BufferConfig, BufferError, DropReason, PreBuffer, PushOutcome};
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

fn video(i: i64, key: bool) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: i * 3_000,
        time: Time(i * 33_333),
        keyframe: key,
        data: Bytes::from(vec![i as u8; 1_000]),
    }
}

fn config(mode: BufferMode, dir: &Path) -> BufferConfig {
    BufferConfig {
        window: Duration::from_secs(60),
        mode,
        keyframe_only: false,
        hybrid_memory_bytes: 0,
        spool_dir: dir.to_path_buf(),
    }
}

/// Files written from now on can't grow past `bytes` (`None`: no limit).
fn limit_file_size(bytes: Option<u64>) {
    // SAFETY: plain libc calls on a local struct; SIGXFSZ ignored so writes fail with EFBIG
    // instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.map_or(lim.rlim_max, |b| b as libc::rlim_t);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn is_spool_error(r: Result<PushOutcome, BufferError>) -> bool {
    matches!(r, Err(BufferError::Spool { .. }))
}

#[test]
fn a_full_disk_refuses_the_packet_and_breaks_only_its_gop() {
    let tmp = tempfile::tempdir().unwrap();

    // Disk mode: a failure in the middle of a GOP.
    let dir = tmp.path().join("disk");
    let mut b = PreBuffer::new(config(BufferMode::Disk, &dir)).unwrap();
    let mut want = vec![];
    for i in 0..10 {
        assert_eq!(b.push(video(i, i == 0)).unwrap(), PushOutcome::Held);
        want.push(video(i, i == 0));
    }
    limit_file_size(Some(15_500));
    for i in 10..15 {
        assert_eq!(b.push(video(i, i == 10)).unwrap(), PushOutcome::Held);
        want.push(video(i, i == 10));
    }
    assert!(
        is_spool_error(b.push(video(15, false))),
        "the write past the limit fails"
    );
    for i in 16..20 {
        assert_eq!(
            b.push(video(i, false)).unwrap(),
            PushOutcome::Dropped(DropReason::GopBroken)
        );
    }
    // A keyframe that can't be written either: refused, nothing opened.
    assert!(is_spool_error(b.push(video(20, true))));
    assert_eq!(
        b.push(video(21, false)).unwrap(),
        PushOutcome::Dropped(DropReason::GopBroken)
    );
    limit_file_size(None);
    for i in 22..25 {
        assert_eq!(b.push(video(i, i == 22)).unwrap(), PushOutcome::Held);
        want.push(video(i, i == 22));
    }
    let s = b.stats();
    assert_eq!((s.spool_errors, s.refused_gop_broken), (2, 2 + 5));
    assert_eq!((s.packets, s.gops), (18, 3));
    let got = b.flush(Time::from_secs(60)).into_packets().unwrap();
    assert_eq!(got, want, "held packets intact after the failures");

    // Hybrid: a failed demotion keeps the GOP in memory; the packet is held.
    let dir = tmp.path().join("hybrid");
    let mut b = PreBuffer::new(config(BufferMode::Hybrid, &dir)).unwrap();
    limit_file_size(Some(0));
    for i in 0..40 {
        assert_eq!(b.push(video(i, i % 10 == 0)).unwrap(), PushOutcome::Held);
    }
    let s = b.stats();
    assert!(s.spool_errors > 0);
    assert_eq!((s.packets, s.disk_bytes), (40, 0));
    limit_file_size(None);
    b.push(video(40, false)).unwrap();
    assert!(
        b.stats().disk_bytes > 0,
        "demotion resumes once the disk has room"
    );
    assert_eq!(
        b.flush(Time::from_secs(60)).into_packets().unwrap().len(),
        41
    );

    // Through the pool: the error comes back and the pool's accounting stays exact.
    let pool = Pool::new(1 << 30);
    let h = pool
        .register("cam", config(BufferMode::Disk, &tmp.path().join("pool")))
        .unwrap();
    for i in 0..5 {
        h.push(video(i, i == 0)).unwrap();
    }
    limit_file_size(Some(5_000));
    assert!(is_spool_error(h.push(video(5, false))));
    limit_file_size(None);
    let ps = pool.stats();
    assert_eq!(
        ps.used_bytes,
        ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
    );
    assert_eq!(h.stats().packets, 5);
}
