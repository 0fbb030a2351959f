//! Unit tests of one buffer: one test per behaviour. Modes, pool and properties are in `tests/`.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::packet::{Packet, TrackKind};
use crate::time::Time;

const MS: i64 = 1_000;

/// A video packet at `ms` whose payload (`len` bytes) is tagged with `tag`.
fn video(ms: i64, key: bool, tag: u8, len: usize) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: ms * 90,
        time: Time(ms * MS),
        keyframe: key,
        data: Bytes::from(vec![tag; len]),
    }
}

fn audio(ms: i64, tag: u8) -> Packet {
    Packet {
        track: TrackKind::Audio,
        pts: ms * 48,
        time: Time(ms * MS),
        keyframe: true,
        data: Bytes::from(vec![tag; 10]),
    }
}

fn config(window_ms: u64, mode: BufferMode) -> BufferConfig {
    BufferConfig {
        window: Duration::from_millis(window_ms),
        mode,
        keyframe_only: false,
        hybrid_memory_bytes: 0,
        spool_dir: std::env::temp_dir().join("vigil-unit-unused"),
    }
}

fn memory(window_ms: u64) -> PreBuffer {
    PreBuffer::new(config(window_ms, BufferMode::Memory)).unwrap()
}

/// Pushes a stream of 1-second GOPs of 10 frames (100 ms apart), seconds `from..to`; the keyframe
/// of second `s` is at `s * 1000` ms. Returns every packet pushed.
fn push_gops(b: &mut PreBuffer, from: i64, to: i64) -> Vec<Packet> {
    let mut all = vec![];
    for s in from..to {
        for f in 0..10 {
            let p = video(s * 1000 + f * 100, f == 0, (s * 10 + f) as u8, 100);
            assert_eq!(b.push(p.clone()).unwrap(), PushOutcome::Held);
            all.push(p);
        }
    }
    all
}

#[test]
fn audio_lagging_video_does_not_make_the_window_evict_what_the_pre_roll_needs() {
    // 30 fps video in 1 s GOPs; AAC frames every ~21 ms whose times trail the newest video
    // frame by up to 30 ms, pushed as they would arrive. Each zigzag used to count as time
    // passing, so the buffer's clock ran ahead and the window evicted a GOP too early: the
    // flushed pre-roll came out short of the window.
    let mut b = memory(2_000);
    let (mut a, mut newest) = (0i64, 0i64);
    for f in 0..300i64 {
        let v = f * 1000 / 30;
        b.push(video(v, f % 30 == 0, 1, 100)).unwrap();
        newest = newest.max(v);
        while a * 64 / 3 <= v - 5 {
            let t = a * 64 / 3;
            b.push(audio(t, 2)).unwrap();
            newest = newest.max(t);
            a += 1;
        }
    }
    let at = Time(newest * MS);
    let first = b.flush(at).start().unwrap();
    assert!(
        at.micros_since(first) >= 2_000 * MS,
        "pre-roll {} ms for a 2000 ms window",
        at.micros_since(first) / MS
    );
}

#[test]
fn groups_video_and_interleaved_audio_into_gops() {
    let mut b = memory(60_000);
    for p in [
        video(0, true, 1, 50),
        audio(10, 2),
        video(33, false, 3, 20),
        audio(40, 4),
        video(66, true, 5, 50),
        audio(70, 6),
        video(100, false, 7, 20),
    ] {
        assert_eq!(b.push(p).unwrap(), PushOutcome::Held);
    }
    let s = b.stats();
    assert_eq!((s.gops, s.keyframes, s.packets), (2, 2, 7));
    assert_eq!(s.bytes, 50 + 10 + 20 + 10 + 50 + 10 + 20);
    assert_eq!(b.gops[0].len(), 4);
    assert_eq!(b.gops[1].len(), 3);
    // An audio "keyframe" does not start a GOP.
    assert_eq!(b.gops[1].start, Time(66 * MS));
}

#[test]
fn refuses_everything_before_the_first_video_keyframe() {
    let mut b = memory(5_000);
    let refused = PushOutcome::Dropped(DropReason::NoKeyframeYet);
    assert_eq!(b.push(video(0, false, 1, 30)).unwrap(), refused);
    assert_eq!(b.push(audio(5, 2)).unwrap(), refused);
    assert_eq!(b.push(video(33, true, 3, 30)).unwrap(), PushOutcome::Held);
    assert_eq!(b.push(audio(40, 4)).unwrap(), PushOutcome::Held);
    let s = b.stats();
    assert_eq!((s.refused_no_keyframe, s.packets), (2, 2));
    assert_eq!((s.dropped_packets, s.dropped_bytes), (2, 40));
    assert_eq!(s.oldest, Some(Time(33 * MS)));
}

#[test]
fn window_eviction_keeps_the_latest_keyframe_at_or_before_newest_minus_window() {
    let mut b = memory(5_000);
    push_gops(&mut b, 0, 11);
    // Newest 10.9 s, newest − window = 5.9 s: GOPs from 5 s on are needed.
    let s = b.stats();
    assert_eq!(s.oldest, Some(Time::from_secs(5)));
    assert_eq!(s.newest, Some(Time(10_900 * MS)));
    assert_eq!(s.gops, 6);
    assert_eq!(s.dropped_window_packets, 50);
    assert_eq!(s.dropped_window_bytes, 5_000);
    assert!((s.duration_secs - 5.9).abs() < 1e-9);
    // A keyframe exactly at newest − window: the GOP before it goes.
    b.push(video(11_000, true, 0, 100)).unwrap();
    assert_eq!(b.stats().oldest, Some(Time::from_secs(6)));
}

#[test]
fn a_lead_keeps_the_pre_roll_of_a_motion_time_reported_late() {
    let mut b = memory(2_000);
    b.set_lead(Duration::from_millis(1_500));
    push_gops(&mut b, 0, 11);
    // Newest 10.9 s; kept from newest − window − lead = 7.4 s: the GOP at 7 s on.
    assert_eq!(b.stats().oldest, Some(Time::from_secs(7)));
    // Motion seen at 9.2 s, reported at 10.9 s: its 2 s pre-roll is still there.
    let f = b.flush(Time(9_200 * MS));
    assert_eq!(f.start(), Some(Time::from_secs(7)));
    // Without the lead the GOP at 7 s would have gone (newest − window = 8.9 s).
    let mut plain = memory(2_000);
    push_gops(&mut plain, 0, 11);
    assert_eq!(plain.stats().oldest, Some(Time::from_secs(8)));
}

#[test]
fn flush_starts_at_the_latest_gop_at_or_before_t_minus_window() {
    let mut b = memory(5_000);
    let all = push_gops(&mut b, 0, 11);
    // T − window = 6.4 s: the GOP at 6 s, then everything after it.
    let f = b.flush(Time(11_400 * MS));
    assert_eq!(f.start(), Some(Time::from_secs(6)));
    let got = f.into_packets().unwrap();
    assert_eq!(got, all[60..].to_vec());
    let s = b.stats();
    assert_eq!((s.packets, s.gops, s.bytes), (0, 0, 0));
    assert_eq!(s.dropped_window_packets, 60); // 50 by the window, 10 before the flush start
    assert_eq!((s.flushes, s.last_flush_packets), (1, 50));
    assert!((s.last_flush_secs - 4.9).abs() < 1e-9);
}

#[test]
fn flush_exactly_one_window_after_a_keyframe_starts_on_it() {
    let mut b = memory(5_000);
    let all = push_gops(&mut b, 0, 11);
    let f = b.flush(Time::from_secs(12));
    assert_eq!(f.start(), Some(Time::from_secs(7)));
    assert_eq!(f.into_packets().unwrap(), all[70..].to_vec());
}

#[test]
fn buffers_and_flushes_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PreBuffer>();
    send_sync::<Flush>();
    send_sync::<crate::pool::BufferHandle>();
    send_sync::<crate::pool::Pool>();
}

#[test]
fn flush_before_the_stream_ran_a_window_starts_at_the_oldest_gop() {
    let mut b = memory(60_000);
    let all = push_gops(&mut b, 0, 3);
    let f = b.flush(Time::from_secs(3));
    assert_eq!(f.start(), Some(Time::ZERO));
    assert_eq!(f.into_packets().unwrap(), all);
}

#[test]
fn window_zero_holds_and_flushes_only_the_newest_gop() {
    let mut b = memory(0);
    let all = push_gops(&mut b, 0, 4);
    assert_eq!(b.stats().gops, 1);
    let got = b.flush(Time(3_950 * MS)).into_packets().unwrap();
    assert_eq!(got, all[30..].to_vec());
}

#[test]
fn after_a_flush_the_buffer_waits_for_a_keyframe() {
    let mut b = memory(5_000);
    push_gops(&mut b, 0, 2);
    assert_eq!(b.flush(Time::from_secs(2)).len(), 20);
    let refused = PushOutcome::Dropped(DropReason::NoKeyframeYet);
    assert_eq!(b.push(video(2_000, false, 1, 10)).unwrap(), refused);
    assert_eq!(
        b.push(video(2_100, true, 1, 10)).unwrap(),
        PushOutcome::Held
    );
    assert_eq!(b.stats().packets, 1);
    assert!(b.flush(Time::from_secs(3)).len() == 1);
    assert!(b.flush(Time::from_secs(4)).is_empty());
    assert_eq!(b.stats().flushes, 3);
}

#[test]
fn keyframe_only_thins_all_but_the_newest_gop() {
    let mut cfg = config(60_000, BufferMode::Memory);
    cfg.keyframe_only = true;
    let mut b = PreBuffer::new(cfg).unwrap();
    let all = push_gops(&mut b, 0, 3);
    b.push(audio(2_950, 99)).unwrap();
    let s = b.stats();
    assert_eq!((s.gops, s.packets, s.thinned_packets), (3, 1 + 1 + 11, 18));
    assert_eq!(s.bytes, 100 + 100 + 10 * 100 + 10);
    assert_eq!((s.dropped_packets, s.dropped_bytes), (18, 1_800));
    let got = b.flush(Time::from_secs(3)).into_packets().unwrap();
    let mut want = vec![all[0].clone(), all[10].clone()];
    want.extend_from_slice(&all[20..]);
    want.push(audio(2_950, 99));
    assert_eq!(got, want);
}

#[test]
fn clear_drops_everything_and_waits_for_a_keyframe() {
    let mut b = memory(5_000);
    push_gops(&mut b, 0, 3);
    b.clear();
    let s = b.stats();
    assert_eq!((s.packets, s.bytes, s.gops, s.oldest), (0, 0, 0, None));
    assert_eq!((s.cleared_packets, s.dropped_packets), (30, 30));
    assert_eq!(
        b.push(video(3_100, false, 1, 10)).unwrap(),
        PushOutcome::Dropped(DropReason::NoKeyframeYet)
    );
}

#[test]
fn reconfigure_window_shrink_evicts_now_and_grow_keeps_more() {
    let mut b = memory(10_000);
    push_gops(&mut b, 0, 11);
    assert_eq!(b.stats().oldest, Some(Time::ZERO));
    b.reconfigure(config(2_000, BufferMode::Memory)).unwrap();
    assert_eq!(b.stats().oldest, Some(Time::from_secs(8)));
    b.reconfigure(config(30_000, BufferMode::Memory)).unwrap();
    push_gops(&mut b, 11, 20);
    assert_eq!(b.stats().oldest, Some(Time::from_secs(8)));
}

#[test]
fn reconfigure_mode_moves_held_gops_without_losing_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(60_000, BufferMode::Memory);
    cfg.spool_dir = dir.path().join("cam");
    let mut b = PreBuffer::new(cfg.clone()).unwrap();
    let mut all = push_gops(&mut b, 0, 3);
    cfg.mode = BufferMode::Disk;
    b.reconfigure(cfg.clone()).unwrap();
    let s = b.stats();
    assert_eq!(
        (s.packets, s.disk_bytes, s.memory_bytes),
        (30, 3_000, 30 * 48)
    );
    // The open GOP went to disk too: its next packets are appended there.
    all.push(video(2_950, false, 7, 100));
    b.push(all[30].clone()).unwrap();
    assert_eq!(b.stats().disk_bytes, 3_100);
    cfg.mode = BufferMode::Hybrid;
    cfg.hybrid_memory_bytes = 1 << 20;
    b.reconfigure(cfg.clone()).unwrap();
    all.extend(push_gops(&mut b, 3, 4));
    assert_eq!(b.stats().disk_bytes, 3_100);
    cfg.mode = BufferMode::Memory;
    b.reconfigure(cfg).unwrap();
    let s = b.stats();
    assert_eq!((s.disk_bytes, s.memory_bytes, s.packets), (0, 4_100, 41));
    assert!(b.spool.is_none());
    assert_eq!(b.flush(Time::from_secs(4)).into_packets().unwrap(), all);
}

#[test]
fn reconfigure_keyframe_only_on_thins_the_held_gops() {
    let mut b = memory(60_000);
    push_gops(&mut b, 0, 3);
    let mut cfg = config(60_000, BufferMode::Memory);
    cfg.keyframe_only = true;
    b.reconfigure(cfg).unwrap();
    let s = b.stats();
    assert_eq!((s.packets, s.thinned_packets), (12, 18));
}

#[test]
fn stats_account_for_every_packet() {
    let mut b = memory(3_000);
    let mut pushed = 0;
    let mut flushed = 0;
    for round in 0..3 {
        b.push(video(round * 20_000, false, 0, 5)).unwrap();
        pushed += 1 + 10 * 8;
        push_gops(&mut b, round * 20 + 1, round * 20 + 9);
        b.push(audio(round * 20_000 + 9_990, 1)).unwrap();
        pushed += 1;
        let s = b.stats();
        assert_eq!(s.peak_bytes, 4 * 1_000, "peak: 4 whole GOPs");
        flushed += b.flush(Time::from_secs(round * 20 + 9)).len() as u64;
    }
    let s = b.stats();
    assert_eq!(s.packets + flushed + s.dropped_packets, pushed);
    assert_eq!(
        s.dropped_packets,
        s.dropped_window_packets + s.refused_no_keyframe + s.dropped_pool_packets
    );
    assert_eq!(s.refused_no_keyframe, 3);
    assert_eq!(s.flushes, 3);
}

#[test]
fn empty_packets_are_refused_without_harm() {
    let mut b = memory(5_000);
    push_gops(&mut b, 0, 1);
    let e = b.push(video(1_000, true, 0, 0)).unwrap_err();
    assert!(matches!(e, BufferError::EmptyPacket), "{e}");
    assert_eq!(
        b.push(video(1_100, false, 1, 10)).unwrap(),
        PushOutcome::Held
    );
    let s = b.stats();
    assert_eq!((s.packets, s.gops, s.refused_gop_broken), (11, 1, 1));
}

#[test]
fn backwards_time_jump_keeps_the_window_sane() {
    let mut b = memory(5_000);
    push_gops(&mut b, 3_600, 3_610);
    // The camera clock jumps back an hour; the buffer goes on evicting by stream time.
    push_gops(&mut b, 0, 20);
    let s = b.stats();
    assert_eq!(s.gops, 6, "{s:?}");
    assert_eq!(s.oldest, Some(Time::from_secs(14)));
    // And a flush still starts on a keyframe with a sane choice.
    let f = b.flush(Time::from_secs(20));
    assert_eq!(f.start(), Some(Time::from_secs(15)));
    // Time going back inside a GOP: no panic, eviction only waits.
    let mut b = memory(1_000);
    for (i, ms) in [0, 500, 1_000, 200, 1_500, 2_600].into_iter().enumerate() {
        b.push(video(ms, i % 2 == 0, 0, 10)).unwrap();
    }
    assert!(b.stats().gops >= 1);
}

/// Audio and video are separate streams: a camera (or the RTSP test bed) sometimes sends a few
/// audio frames ahead of the video frame that is older than them. The window's clock must not
/// count that stretch twice (once up to the audio, again from the older video frame on): it ran
/// 24 ms fast over one such stretch, evicted a GOP the window still needed, and the pre-roll came
/// out 1.995 s for 2 s (`run_live`).
#[test]
fn tracks_sent_slightly_out_of_order_do_not_run_the_window_fast() {
    let mut b = memory(2_000);
    // 30 fps video in 1 s GOPs, 48 kHz AAC (~21 ms frames) sent up to 40 ms ahead of video.
    let mut a = 0;
    for k in 0..150 {
        let v = k * 1_000 / 30;
        while a <= v + 40 {
            b.push(audio(a, 1)).unwrap();
            a += 21;
        }
        b.push(video(v, k % 30 == 0, 2, 100)).unwrap();
    }
    let newest = Time((a - 21) * MS);
    let f = b.flush(newest);
    let start = f.start().expect("a GOP");
    assert!(
        newest.micros_since(start) >= 2_000 * MS,
        "pre-roll {} µs for a 2 s window",
        newest.micros_since(start)
    );
}

#[test]
fn audio_only_stream_is_refused_and_counted() {
    let mut b = memory(5_000);
    for i in 0..50 {
        assert_eq!(
            b.push(audio(i * 20, 1)).unwrap(),
            PushOutcome::Dropped(DropReason::NoKeyframeYet)
        );
    }
    let s = b.stats();
    assert_eq!(
        (s.packets, s.refused_no_keyframe, s.dropped_bytes),
        (0, 50, 500)
    );
    assert!(b.flush(Time::from_secs(1)).is_empty());
}

#[test]
fn from_settings_carries_every_field() {
    let s = crate::settings::RecordingSettings {
        pre_buffer_secs: 12,
        buffer_mode: BufferMode::Hybrid,
        keyframe_only: true,
        hybrid_memory_bytes: 777,
        ..Default::default()
    };
    let c = BufferConfig::from_settings(&s, "/x".into());
    assert_eq!(c.window, Duration::from_secs(12));
    assert_eq!((c.mode, c.keyframe_only), (BufferMode::Hybrid, true));
    assert_eq!(c.hybrid_memory_bytes, 777);
    assert_eq!(c.spool_dir, std::path::PathBuf::from("/x"));
}
