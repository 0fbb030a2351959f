//! Pictures: a JPEG for every clip (the frame at its motion start, `<clip>.jpg` beside the clip)
//! and the newest keyframe of a camera (`snapshot.jpg`). Decoded with the detector's H.264
//! decoder ([`crate::detect::decode`]); an H.265 camera's come from its H.264 detect stream
//! ([`PictureSource`]), or there are none (said in words).
//!
//! Clip pictures are made once, off the recording path: when a motion clip's pre-roll is
//! flushed, the camera hands the packets from the keyframe before the motion to the motion
//! frame (shared payloads, no copy) to the [`Thumbnailer`]'s thread, which decodes them and
//! writes the JPEG. Its queue is bounded: a burst beyond it loses pictures, never recording.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use openh264::formats::YUVSource;
use tracing::warn;
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::time::Time;

use crate::detect::decode::H264;

/// A clip picture's width at most (pixels).
pub const THUMB_WIDTH: usize = 320;
/// A snapshot's width at most.
pub const SNAPSHOT_WIDTH: usize = 1280;
/// Clip pictures waiting at most.
const QUEUE: usize = 64;

/// Where a clip whose own frames can't be decoded (H.265) gets its picture: packets of another
/// stream (a keyframe first) around a time, with their parameters.
pub type PictureSource =
    Arc<dyn Fn(Time) -> Option<(Arc<StreamParams>, Vec<Packet>)> + Send + Sync>;

/// The picture of the clip at `clip`.
pub fn thumb_path(clip: &Path) -> PathBuf {
    clip.with_extension("jpg")
}

/// Removes a clip's file and its picture. A file already gone is no error.
pub fn remove_clip(clip: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(thumb_path(clip)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            warn!("cannot remove {}: {e}", thumb_path(clip).display())
        }
        _ => {}
    }
    match std::fs::remove_file(clip) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// A decoded picture as RGB, scaled to at most `max_w` wide (BT.601, nearest sample).
fn rgb(src: &dyn YUVSource, max_w: usize) -> (Vec<u8>, usize, usize) {
    let (w, h) = src.dimensions();
    let (ow, oh) = if w > max_w {
        (max_w, (h * max_w / w).max(1))
    } else {
        (w, h)
    };
    let (sy, su, sv) = src.strides();
    let (y, u, v) = (src.y(), src.u(), src.v());
    let mut out = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        let py = oy * h / oh;
        for ox in 0..ow {
            let px = ox * w / ow;
            let get = |plane: &[u8], i: usize| f32::from(plane.get(i).copied().unwrap_or(128));
            let yy = get(y, py * sy + px) - 16.0;
            let uu = get(u, (py / 2) * su + px / 2) - 128.0;
            let vv = get(v, (py / 2) * sv + px / 2) - 128.0;
            let c = |x: f32| x.round().clamp(0.0, 255.0) as u8;
            out.push(c(1.164 * yy + 1.596 * vv));
            out.push(c(1.164 * yy - 0.392 * uu - 0.813 * vv));
            out.push(c(1.164 * yy + 2.017 * uu));
        }
    }
    (out, ow, oh)
}

/// A JPEG of a decoded picture.
fn jpeg(src: &dyn YUVSource, max_w: usize) -> Result<Vec<u8>, String> {
    let (data, w, h) = rgb(src, max_w);
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&data, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes `packets` (a keyframe first) and makes a JPEG of the last picture.
pub fn picture(params: &StreamParams, packets: &[Packet], max_w: usize) -> Result<Vec<u8>, String> {
    let mut dec = H264::new(&params.video).map_err(|e| e.to_string())?;
    let mut last = None;
    let mut errors = 0;
    for p in packets.iter().filter(|p| p.track == TrackKind::Video) {
        match dec.decode(&p.data, p.keyframe, |_, yuv| jpeg(yuv, max_w)) {
            Ok(Some(j)) => last = Some(j?),
            Ok(None) => {}
            Err(e) => {
                errors += 1;
                if last.is_none() && errors > 3 {
                    return Err(format!("the frames could not be decoded: {e}"));
                }
            }
        }
    }
    last.ok_or_else(|| "no picture came out of the decoder".to_owned())
}

/// The packets to decode for the picture at `at`: from the last video keyframe at or before it
/// up to the first video packet at or after it.
pub fn around(packets: &[Packet], at: Time) -> Vec<Packet> {
    let video: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.track == TrackKind::Video)
        .collect();
    if video.is_empty() {
        return Vec::new();
    }
    let end = video
        .iter()
        .position(|p| p.time >= at)
        .unwrap_or(video.len() - 1);
    let start = video[..=end].iter().rposition(|p| p.keyframe).unwrap_or(0);
    video[start..=end].iter().map(|p| (*p).clone()).collect()
}

struct Job {
    out: PathBuf,
    params: Arc<StreamParams>,
    packets: Vec<Packet>,
}

/// The clip-picture thread (module docs). Clones share it.
#[derive(Clone)]
pub struct Thumbnailer {
    tx: Arc<Mutex<Option<SyncSender<Job>>>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Pictures made, failed, and lost to a full queue.
    pub made: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    pub dropped: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Thumbnailer {
    pub fn start() -> std::io::Result<Thumbnailer> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let made = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (m, f) = (made.clone(), failed.clone());
        let thread = std::thread::Builder::new()
            .name("thumbs".into())
            .spawn(move || {
                // Below the cameras: a burst of pictures must not delay a pre-roll's write.
                // SAFETY: setpriority on this thread's own id; no memory is involved.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
                }
                while let Ok(job) = rx.recv() {
                    match picture(&job.params, &job.packets, THUMB_WIDTH)
                        .and_then(|j| write_atomic(&job.out, &j).map_err(|e| e.to_string()))
                    {
                        Ok(()) => m.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            warn!("no picture for {}: {e}", job.out.display());
                            f.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    drop(job);
                    // A decoder's frames are megabytes; give them back to the system rather
                    // than keep them in this thread's heap between pictures (docs/detection.md).
                    // SAFETY: malloc_trim only releases free memory of the allocator.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            })?;
        Ok(Thumbnailer {
            tx: Arc::new(Mutex::new(Some(tx))),
            thread: Arc::new(Mutex::new(Some(thread))),
            made,
            failed,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Asks for the picture of the clip at `clip`: the frame at `at` among `packets` (the
    /// clip's pre-roll, or another stream's: [`PictureSource`]). H.265 packets make none.
    /// Never blocks.
    pub fn offer(&self, clip: &Path, params: &Arc<StreamParams>, packets: &[Packet], at: Time) {
        if params.video.codec != vigil_core::packet::VideoCodec::H264 {
            return;
        }
        let packets = around(packets, at);
        if packets.is_empty() {
            return;
        }
        let job = Job {
            out: thumb_path(clip),
            params: params.clone(),
            packets,
        };
        if let Some(tx) = lock(&self.tx).as_ref() {
            if let Err(TrySendError::Full(_)) = tx.try_send(job) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Makes the pictures still queued, then ends the thread.
    pub fn stop(&self) {
        lock(&self.tx).take();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

/// Writes `data` to `path` through a temporary file and a rename (never a torn picture).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("jpg.tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pkt(ms: i64, key: bool) -> Packet {
        Packet {
            track: TrackKind::Video,
            pts: ms * 90,
            time: Time(ms * 1000),
            keyframe: key,
            data: Bytes::new(),
        }
    }

    #[test]
    fn around_takes_the_gop_up_to_the_motion_frame() {
        let p: Vec<Packet> = (0..30).map(|i| pkt(i * 100, i % 10 == 0)).collect();
        let a = around(&p, Time(1_450_000));
        assert_eq!(a.first().unwrap().time, Time(1_000_000));
        assert_eq!(a.last().unwrap().time, Time(1_500_000));
        let a = around(&p, Time(9_000_000));
        assert_eq!(
            a.first().unwrap().time,
            Time(2_000_000),
            "past the end: the last GOP"
        );
        assert!(around(&[], Time(0)).is_empty());
    }

    #[test]
    fn removing_a_clip_takes_its_picture() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("x.mp4");
        std::fs::write(&clip, b"mp4").unwrap();
        std::fs::write(thumb_path(&clip), b"jpg").unwrap();
        remove_clip(&clip).unwrap();
        assert!(!clip.exists() && !thumb_path(&clip).exists());
        remove_clip(&clip).unwrap();
    }
}
