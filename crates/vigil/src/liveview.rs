//! Live view: a camera's packets fanned out to its viewers as they arrive.
//!
//! Each camera has a [`LiveFeed`]. Its source hands it every event *before* the camera's
//! channel ([`LiveFeed::observe`]), on the source's own thread: the worker's batching
//! (`camera::BATCH_EVERY`) never reaches a viewer, and a viewer never touches the worker.
//!
//! - The feed keeps the newest GOP (its packets' `Bytes`, shared with the pre-buffer or the
//!   clip writer: no copy), so a new viewer gets a picture at once: the init segment, that
//!   keyframe and everything after it, then each packet as it comes. In `disk` buffer mode it
//!   keeps the GOP only while someone watches (that mode is chosen to keep memory small); a
//!   viewer of an unwatched disk-mode camera starts at the next keyframe.
//! - Every viewer has a bounded queue ([`QUEUE_BYTES`], or twice the GOP it joined with if
//!   that is more). A packet that would overflow it empties it instead: that viewer skips to
//!   the next keyframe (counted, per viewer and per camera), and nobody else waits. Queueing
//!   is a lock and a push per viewer; the source never blocks.
//! - A change of the stream's parameters ends every viewer's stream (a player needs a new init
//!   segment; the page reconnects). A lost stream doesn't: its viewers wait, and carry on at the
//!   first keyframe when the stream comes back with the same parameters.
//! - The number of viewers drives the camera's read pacing through the watch hook: the first
//!   viewer turns it off (each frame is read as it arrives), the last one leaving turns it back
//!   on (`runtime::paced`).
//!
//! A viewer's [`LiveStream`] turns its queue into fMP4 with [`vigil_core::fmp4::LiveMuxer`]:
//! per packet, headers of its own and the packet's data as is.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use vigil_core::fmp4::{codecs, prft, LiveMuxer};
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::time::{Clock, Now};

use crate::ingest::SourceEvent;

/// A viewer's queue holds at most this many bytes of packets (or twice the GOP it joined with)
/// unless `[server] live_queue_kib` says otherwise. At 4-8 Mbit/s that is 4-8 s of video: a
/// viewer further behind skips ahead.
pub const QUEUE_BYTES: usize = 4 << 20;
/// The newest GOP is not kept beyond this size (a camera whose keyframes are this far apart
/// has its viewers start at the next one).
pub const GOP_BYTES_MAX: usize = 32 << 20;

/// Why a viewer can't watch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error("the camera's stream is not up")]
    StreamDown,
    #[error("the camera is stopping")]
    Closed,
    #[error("cannot stream this camera: {0}")]
    Params(String),
}

/// Figures of a camera's live view.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    pub viewers: usize,
    /// Times a viewer skipped to the next keyframe because it fell behind, since start.
    pub skips: u64,
    /// Viewers since start.
    pub viewers_total: u64,
    /// The RFC 6381 codecs of the current stream (`avc1.64001f,mp4a.40.2`), none while down.
    pub codecs: Option<String>,
    pub audio: bool,
}

type WatchHook = Box<dyn Fn(bool) + Send + Sync>;

/// A camera's live view (module docs).
pub struct LiveFeed {
    state: Mutex<FeedState>,
    queue_bytes: usize,
    /// Whether the newest GOP is kept while nobody watches (not in `disk` buffer mode).
    keep_gop: AtomicBool,
    skips: AtomicU64,
    viewers_total: AtomicU64,
    watch: Option<WatchHook>,
    /// Sees every source event first (the camera's motion detector on its own stream).
    tap: std::sync::OnceLock<TapHook>,
}

type TapHook = Box<dyn Fn(&SourceEvent) + Send + Sync>;

#[derive(Default)]
struct FeedState {
    params: Option<Arc<StreamParams>>,
    /// The newest GOP: a video keyframe and everything after it, in arrival order.
    gop: Vec<Packet>,
    gop_bytes: usize,
    viewers: Vec<Arc<Viewer>>,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LiveFeed {
    /// A feed; `watch(true)` is called when the first viewer comes, `watch(false)` when the
    /// last one leaves.
    pub fn new(keep_gop: bool, queue_bytes: usize, watch: Option<WatchHook>) -> Arc<LiveFeed> {
        Arc::new(LiveFeed {
            state: Mutex::new(FeedState::default()),
            queue_bytes,
            keep_gop: AtomicBool::new(keep_gop),
            skips: AtomicU64::new(0),
            viewers_total: AtomicU64::new(0),
            watch,
            tap: std::sync::OnceLock::new(),
        })
    }

    /// Keeps the newest GOP while unwatched, or not (the buffer mode changed).
    pub fn set_keep_gop(&self, keep: bool) {
        self.keep_gop.store(keep, Ordering::Relaxed);
        if !keep {
            let mut st = lock(&self.state);
            if st.viewers.is_empty() {
                st.gop = Vec::new();
                st.gop_bytes = 0;
            }
        }
    }

    /// The stream's parameters and the newest keyframe held (for a snapshot), if any: none
    /// while the stream is down, or in `disk` buffer mode while nobody watches.
    pub fn newest_keyframe(&self) -> Option<(Arc<StreamParams>, Packet)> {
        let st = lock(&self.state);
        let key = st.gop.first().filter(|p| p.keyframe)?.clone();
        Some((st.params.clone()?, key))
    }

    /// Hands every source event to `tap` too (set once: the camera's detector).
    pub fn set_tap(&self, tap: TapHook) {
        let _ = self.tap.set(tap);
    }

    /// Takes a source event (module docs). Never blocks on a viewer.
    pub fn observe(&self, ev: &SourceEvent) {
        if let Some(tap) = self.tap.get() {
            tap(ev);
        }
        match ev {
            SourceEvent::Packet(p) => self.packet(p),
            SourceEvent::Params(p) => {
                let mut st = lock(&self.state);
                if st.params.as_deref() != Some(&**p) {
                    // Viewers joined with other parameters (those of a previous session whose
                    // viewers are waiting, or a mid-stream change).
                    let had = !st.viewers.is_empty();
                    for v in st.viewers.drain(..) {
                        v.end();
                    }
                    st.gop.clear();
                    st.gop_bytes = 0;
                    st.params = Some(p.clone());
                    if let (true, Some(w)) = (had, &self.watch) {
                        w(false);
                    }
                }
            }
            SourceEvent::Lost(_) => {
                let mut st = lock(&self.state);
                st.gop.clear();
                st.gop_bytes = 0;
                // Viewers wait for the stream to come back (module docs); they resume at a
                // keyframe, and a player sees a cut, not a gap.
                for v in &st.viewers {
                    v.lost();
                }
            }
        }
    }

    fn packet(&self, p: &Packet) {
        let mut st = lock(&self.state);
        if st.closed {
            return;
        }
        let keep = !st.viewers.is_empty() || self.keep_gop.load(Ordering::Relaxed);
        if p.starts_gop() {
            st.gop.clear();
            st.gop_bytes = 0;
        }
        if keep && (!st.gop.is_empty() || p.starts_gop()) {
            if st.gop_bytes + p.data.len() <= GOP_BYTES_MAX {
                st.gop_bytes += p.data.len();
                st.gop.push(p.clone());
            } else {
                st.gop = Vec::new();
                st.gop_bytes = 0;
            }
        } else if !keep && st.gop.capacity() > 0 {
            st.gop = Vec::new();
        }
        if st.viewers.is_empty() {
            return;
        }
        let mut skipped = 0;
        st.viewers.retain(|v| match v.offer(p) {
            Offer::Queued | Offer::Skipping => true,
            Offer::Skipped => {
                skipped += 1;
                true
            }
            Offer::Gone => false,
        });
        if skipped > 0 {
            self.skips.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// A new viewer: its stream starts with the init segment and the newest GOP held.
    pub fn subscribe(self: &Arc<Self>) -> Result<LiveStream, LiveError> {
        self.subscribe_with(None)
    }

    /// [`LiveFeed::subscribe`]; with `prft`, each fragment is preceded by a `prft` box holding
    /// the wall-clock time of its packet's camera time, read from this clock (for measuring
    /// latency end to end: `live.mp4?prft=1`).
    pub fn subscribe_with(
        self: &Arc<Self>,
        prft: Option<Arc<dyn Clock>>,
    ) -> Result<LiveStream, LiveError> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(LiveError::Closed);
        }
        let params = st.params.clone().ok_or(LiveError::StreamDown)?;
        let (muxer, init) =
            LiveMuxer::new(&params).map_err(|e| LiveError::Params(e.to_string()))?;
        let limit = self.queue_bytes.max(2 * st.gop_bytes);
        let viewer = Arc::new(Viewer {
            q: Mutex::new(Queue {
                items: st.gop.iter().cloned().collect(),
                bytes: st.gop_bytes,
                limit,
                // Without a GOP held, it starts at the next keyframe.
                skipping: st.gop.is_empty(),
                ..Queue::default()
            }),
        });
        st.viewers.push(viewer.clone());
        if st.viewers.len() == 1 {
            if let Some(w) = &self.watch {
                w(true);
            }
        }
        drop(st);
        self.viewers_total.fetch_add(1, Ordering::Relaxed);
        Ok(LiveStream {
            feed: self.clone(),
            viewer,
            muxer,
            out: VecDeque::from([init]),
            codecs: codecs(&params),
            audio: params.audio.is_some(),
            prft,
        })
    }

    fn unsubscribe(&self, viewer: &Arc<Viewer>) {
        let mut st = lock(&self.state);
        let before = st.viewers.len();
        st.viewers.retain(|v| !Arc::ptr_eq(v, viewer));
        if before > 0 && st.viewers.is_empty() {
            if let Some(w) = &self.watch {
                w(false);
            }
            if !self.keep_gop.load(Ordering::Relaxed) {
                st.gop = Vec::new();
                st.gop_bytes = 0;
            }
        }
    }

    /// Ends every viewer's stream and refuses new ones (the camera is stopping).
    pub fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        let had = !st.viewers.is_empty();
        for v in st.viewers.drain(..) {
            v.end();
        }
        st.gop = Vec::new();
        st.gop_bytes = 0;
        if had {
            if let Some(w) = &self.watch {
                w(false);
            }
        }
    }

    pub fn stats(&self) -> LiveStats {
        let st = lock(&self.state);
        LiveStats {
            viewers: st.viewers.len(),
            skips: self.skips.load(Ordering::Relaxed),
            viewers_total: self.viewers_total.load(Ordering::Relaxed),
            codecs: st.params.as_deref().map(codecs),
            audio: st.params.as_ref().is_some_and(|p| p.audio.is_some()),
        }
    }
}

/// One viewer's side of the feed.
struct Viewer {
    q: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Packet>,
    bytes: usize,
    limit: usize,
    /// Dropping packets until the next video keyframe.
    skipping: bool,
    /// The next packet out follows a gap: the muxer cuts there.
    cut: bool,
    /// The stream is over (parameters changed, camera stopped).
    ended: bool,
    /// The stream is gone (the viewer left).
    gone: bool,
    skips: u64,
    waker: Option<Waker>,
}

enum Offer {
    Queued,
    /// Still waiting for a keyframe.
    Skipping,
    /// Fell behind just now: the queue was emptied.
    Skipped,
    Gone,
}

impl Viewer {
    fn offer(&self, p: &Packet) -> Offer {
        let mut q = lock(&self.q);
        if q.gone {
            return Offer::Gone;
        }
        if q.ended {
            return Offer::Skipping;
        }
        let mut skipped = false;
        if !q.skipping && q.bytes + p.data.len() > q.limit {
            q.items.clear();
            q.bytes = 0;
            q.skipping = true;
            q.cut = true;
            q.skips += 1;
            skipped = true;
        }
        if q.skipping {
            if !(p.track == TrackKind::Video && p.keyframe) || p.data.len() > q.limit {
                return if skipped {
                    Offer::Skipped
                } else {
                    Offer::Skipping
                };
            }
            q.skipping = false;
        }
        q.bytes += p.data.len();
        let cut = std::mem::take(&mut q.cut);
        if cut {
            q.items.push_back(cut_marker());
        }
        q.items.push_back(p.clone());
        if let Some(w) = q.waker.take() {
            w.wake();
        }
        if skipped {
            Offer::Skipped
        } else {
            Offer::Queued
        }
    }

    /// The stream went down: skip to the first keyframe after it is back, with a cut.
    fn lost(&self) {
        let mut q = lock(&self.q);
        q.skipping = true;
        q.cut = true;
    }

    fn end(&self) {
        let mut q = lock(&self.q);
        q.ended = true;
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }
}

/// A packet standing for "a gap before the next one" in a queue: empty, which no real packet
/// is (the timeline refuses empty packets).
fn cut_marker() -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: 0,
        time: vigil_core::time::Time::ZERO,
        keyframe: false,
        data: Bytes::new(),
    }
}

/// One viewer's endless fMP4 (a `Stream` of body chunks): the init segment, then a fragment's
/// headers and its payload per packet. Dropping it leaves the feed.
pub struct LiveStream {
    feed: Arc<LiveFeed>,
    viewer: Arc<Viewer>,
    muxer: LiveMuxer,
    out: VecDeque<Bytes>,
    codecs: String,
    audio: bool,
    /// Write a `prft` before each fragment, with this clock's labels.
    prft: Option<Arc<dyn Clock>>,
}

impl LiveStream {
    /// The RFC 6381 codecs of the stream (for its `Content-Type`).
    pub fn codecs(&self) -> &str {
        &self.codecs
    }

    pub fn has_audio(&self) -> bool {
        self.audio
    }

    /// Times this viewer skipped ahead.
    pub fn skips(&self) -> u64 {
        lock(&self.viewer.q).skips
    }

    /// Moves what is queued into `out` as fMP4 chunks. Returns whether the stream is over
    /// (nothing queued and ended).
    fn fill(&mut self, cx: Option<&Context<'_>>) -> bool {
        let items = {
            let mut q = lock(&self.viewer.q);
            if q.items.is_empty() {
                if q.ended {
                    return true;
                }
                if let Some(cx) = cx {
                    q.waker = Some(cx.waker().clone());
                }
                return false;
            }
            q.bytes = 0;
            std::mem::take(&mut q.items)
        };
        for p in items {
            if p.data.is_empty() {
                self.muxer.cut();
                continue;
            }
            if let Some((head, data)) = self.muxer.push(&p) {
                if let (Some(clock), Some((track, decode))) =
                    (&self.prft, self.muxer.last_fragment())
                {
                    let wall = Now::read(&**clock).label(p.time);
                    let b = prft(track, wall.0, decode);
                    self.out.push_back(Bytes::copy_from_slice(&b));
                }
                self.out.push_back(head);
                self.out.push_back(data);
            }
        }
        false
    }
}

impl futures::Stream for LiveStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Poll::Ready(Some(Ok(b)));
            }
            if self.fill(Some(cx)) {
                return Poll::Ready(None);
            }
            if self.out.is_empty() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        lock(&self.viewer.q).gone = true;
        self.feed.unsubscribe(&self.viewer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use vigil_core::packet::{VideoCodec, VideoParams};
    use vigil_core::time::Time;

    fn params(width: u16) -> Arc<StreamParams> {
        Arc::new(StreamParams {
            video: VideoParams {
                codec: VideoCodec::H264,
                width,
                height: 360,
                config: Bytes::from_static(&[1, 0x4d, 0x00, 0x1e, 0xff, 0xe1, 0, 0]),
            },
            audio: None,
        })
    }

    fn frame(n: i64, key: bool, len: usize) -> SourceEvent {
        SourceEvent::Packet(Packet {
            track: TrackKind::Video,
            pts: n * 3000,
            time: Time(n * 33_333),
            keyframe: key,
            data: Bytes::from(vec![n as u8; len]),
        })
    }

    /// Everything the stream has ready now: (chunks, ended).
    fn ready(s: &mut LiveStream) -> (Vec<Bytes>, bool) {
        let mut out = Vec::new();
        loop {
            match s.next().now_or_never() {
                Some(Some(Ok(b))) => out.push(b),
                Some(None) => return (out, true),
                None => return (out, false),
            }
        }
    }

    use futures::FutureExt;

    #[test]
    fn a_viewer_starts_with_the_newest_gop_and_then_gets_each_packet() {
        let watched = Arc::new(Mutex::new(Vec::new()));
        let w = watched.clone();
        let feed = LiveFeed::new(
            true,
            QUEUE_BYTES,
            Some(Box::new(move |on| w.lock().unwrap().push(on))),
        );
        assert_eq!(feed.subscribe().err(), Some(LiveError::StreamDown));
        feed.observe(&SourceEvent::Params(params(640)));
        for n in 0..5 {
            feed.observe(&frame(n, n % 3 == 0, 100));
        }
        let mut s = feed.subscribe().unwrap();
        assert_eq!(s.codecs(), "avc1.4d001e");
        let (chunks, ended) = ready(&mut s);
        // init, then frames 3 and 4 (the newest GOP), two chunks each.
        assert_eq!(chunks.len(), 1 + 2 * 2);
        assert!(!ended);
        assert_eq!(&chunks[0][4..8], b"ftyp");
        assert_eq!(&chunks[1][4..8], b"moof");
        assert_eq!(
            chunks[2],
            Bytes::from(vec![3u8; 100]),
            "the payload, shared"
        );
        feed.observe(&frame(5, false, 100));
        let (chunks, _) = ready(&mut s);
        assert_eq!(chunks.len(), 2);
        assert_eq!(feed.stats().viewers, 1);
        drop(s);
        assert_eq!(feed.stats().viewers, 0);
        assert_eq!(*watched.lock().unwrap(), vec![true, false]);
        assert_eq!(feed.stats().viewers_total, 1);
    }

    #[test]
    fn a_slow_viewer_skips_to_the_next_keyframe_and_the_others_keep_everything() {
        let feed = LiveFeed::new(true, QUEUE_BYTES, None);
        feed.observe(&SourceEvent::Params(params(640)));
        feed.observe(&frame(0, true, 1000));
        let mut fast = feed.subscribe().unwrap();
        let mut slow = feed.subscribe().unwrap();
        let mut fast_frames = 0;
        // 3 GOPs of 30 frames of 100 KB: 9 MB, more than a queue holds.
        for n in 1..90 {
            feed.observe(&frame(n, n % 30 == 0, 100_000));
            fast_frames += ready(&mut fast).0.len();
        }
        assert!(feed.stats().skips >= 1);
        assert_eq!(fast.skips(), 0);
        assert!(slow.skips() >= 1);
        // The fast one got all 90 frames (init + 2 chunks each).
        assert_eq!(fast_frames, 1 + 2 * 90);
        // The slow one's queue restarted at a keyframe: its first packet after the init is
        // one, and the stream goes on.
        let (chunks, ended) = ready(&mut slow);
        assert!(!ended);
        assert!(chunks.len() > 1);
        let queued_bytes: usize = chunks.iter().skip(1).map(|c| c.len()).sum();
        assert!(queued_bytes <= QUEUE_BYTES + 200 * chunks.len());
    }

    #[test]
    fn new_parameters_end_the_streams_and_a_lost_stream_does_not() {
        let feed = LiveFeed::new(true, QUEUE_BYTES, None);
        feed.observe(&SourceEvent::Params(params(640)));
        feed.observe(&frame(0, true, 10));
        let mut s = feed.subscribe().unwrap();
        ready(&mut s);
        feed.observe(&SourceEvent::Lost("gone".into()));
        feed.observe(&SourceEvent::Params(params(640)));
        feed.observe(&frame(100, false, 10));
        assert_eq!(ready(&mut s).0.len(), 0, "waits for a keyframe");
        feed.observe(&frame(101, true, 10));
        let (chunks, ended) = ready(&mut s);
        assert_eq!((chunks.len(), ended), (2, false), "carries on");
        feed.observe(&SourceEvent::Params(params(1280)));
        let (_, ended) = ready(&mut s);
        assert!(ended, "a new picture size ends the stream");
        assert_eq!(feed.stats().viewers, 0);
        feed.close();
        assert_eq!(feed.subscribe().err(), Some(LiveError::Closed));
    }

    #[test]
    fn disk_mode_keeps_no_gop_while_unwatched() {
        let feed = LiveFeed::new(false, QUEUE_BYTES, None);
        feed.observe(&SourceEvent::Params(params(640)));
        feed.observe(&frame(0, true, 10));
        feed.observe(&frame(1, false, 10));
        let mut s = feed.subscribe().unwrap();
        assert_eq!(ready(&mut s).0.len(), 1, "the init segment only");
        feed.observe(&frame(2, false, 10));
        assert_eq!(ready(&mut s).0.len(), 0, "waits for the next keyframe");
        feed.observe(&frame(3, true, 10));
        assert_eq!(ready(&mut s).0.len(), 2);
        assert_eq!(feed.stats().skips, 0, "waiting to start is not a skip");
    }
}
