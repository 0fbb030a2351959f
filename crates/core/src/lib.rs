//! # vigil-core: the sans-IO heart of vigil
//!
//! A packet's path through this crate, in order:
//!
//! - [`packet`]: [`packet::Packet`] (one encoded frame, payload shared by reference) and the
//!   [`packet::StreamParams`] a stream is described by.
//! - [`timeline`]: raw source timestamps → a clean increasing media timeline, and
//!   [`anchor`]: where a live session's media time sits on our monotonic clock, slewed toward it.
//! - [`prebuffer`]: the per-camera GOP ring (memory, disk spool, hybrid), and
//!   [`pool`]: the global byte budget shared by all pre-buffers, with fair-share eviction.
//! - [`recorder`]: the per-camera state machine (IDLE / BUFFERING / RECORDING / FINALIZING),
//!   pure `handle(input, now) -> actions`, and beside it [`detections`]: the camera's events by
//!   [`kind`] (person, vehicle, ...), each numbered and timed.
//! - [`fmp4`]: the fragmented-MP4 clip writer, torn-tail recovery, a box-tree dump, and a small MP4
//!   reader for the looping-file source.
//!
//! Support: [`time`] (the injected [`time::Clock`]: a monotonic clock for deadlines and packets'
//! times, the wall clock for labels), [`anchor`] (a live session's place on that clock),
//! [`settings`] (per-camera settings and their ranges), [`kind`] (what a camera saw), and for the I/O drivers above:
//! [`backoff`] (every retry loop's delays) and [`rng`] (seedable jitter and nonces). No tokio, no
//! sockets, no clock of its own: the `vigil` crate drives all of this.

pub mod anchor;
pub mod backoff;
pub mod detections;
pub mod fmp4;
pub mod kind;
pub mod packet;
pub mod pool;
pub mod prebuffer;
pub mod recorder;
pub mod rng;
pub mod settings;
pub mod time;
pub mod timeline;
