//! A full disk leaves a valid clip. The "disk" fills up through RLIMIT_FSIZE (writes past the
//! limit fail with EFBIG, as they fail with ENOSPC on a full file system), so this file holds a
//! single test: the limit is per process.

mod fmp4_support;

use fmp4_support::*;
use vigil_core::fmp4::{recover, ClipWriter, Fmp4Error};

fn limit_file_size(bytes: libc::rlim_t) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain libc calls with valid arguments; SIGXFSZ ignored so EFBIG is returned instead.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

/// The file size limit's error (what a full file system's ENOSPC is to the writer).
fn is_efbig(e: &Fmp4Error) -> bool {
    matches!(e, Fmp4Error::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG))
}

#[test]
fn a_full_disk_closes_the_clip_at_its_last_whole_fragment() {
    let src = open_fixture("h264.mp4");
    let pkts = packets(&src);
    let dir = tempfile::tempdir().unwrap();
    let (reference, _) = write_clip(dir.path(), "reference.mp4", &src.params, &pkts);
    let frags = fragments(&std::fs::read(&reference).unwrap());
    assert_eq!(frags.len(), 4);

    // Room for two fragments and half of the third; then room for two and ten bytes (not even
    // the closing index fits).
    for (name, room_after_two, finish_ok) in [
        ("half.mp4", (frags[2].0 - frags[1].0) / 2, true),
        ("tight.mp4", 10, false),
    ] {
        let path = dir.path().join(name);
        let mut w = ClipWriter::create(&path, &src.params).unwrap();
        limit_file_size((frags[1].0 + room_after_two) as libc::rlim_t);
        let err = pkts
            .iter()
            .find_map(|p| w.write(p).err())
            .expect("a write must fail");
        assert!(is_efbig(&err), "{err}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            frags[1].0,
            "cut back"
        );
        assert!(matches!(w.write(&pkts[0]), Err(Fmp4Error::Closed)));
        assert!(matches!(w.sync_fragment(), Err(Fmp4Error::Closed)));
        let s = w.summary();
        assert_eq!((s.fragments, s.video_samples), (2, 30));
        assert!((s.duration_secs - 2.0).abs() < 1e-9);
        let finished = w.finish();
        limit_file_size(libc::RLIM_INFINITY);
        match finished {
            Ok(s) => {
                assert!(finish_ok);
                assert_eq!((s.fragments, s.video_samples), (2, 30));
                assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len());
            }
            Err(e) => {
                assert!(!finish_ok);
                assert!(is_efbig(&e), "{e}");
                assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, frags[1].0);
            }
        }
        // Either way: a valid clip of the two whole fragments, with its duration.
        assert_eq!(decode_errors(&path, &[]), "", "{name}");
        assert!((format_duration(&path) - 2.0).abs() < 0.002, "{name}");
        assert_eq!(video_packet_count(&path), 30);
        let r = recover(&path).unwrap();
        assert_eq!((r.truncated, r.fragments), (false, 2), "{name}");
    }
}
