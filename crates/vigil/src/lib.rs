//! # vigil: the binary's library
//!
//! Where a packet goes next, by module:
//!
//! - [`ingest`]: sources of packets. Today the looping-file source ([`ingest::file`]) that the demo
//!   and the tests use; RTSP joins it behind the same [`ingest::SourceEvent`] stream.
//! - [`camera`]: one worker per camera. [`camera::CameraPipeline`] drives the core's recorder state
//!   machine and executes its actions on the camera's pre-buffer and clip writer.
//! - [`clips`]: where clip files live (`storage.root/<camera>/<YYYY-MM-DD>/`) and the record of each.
//! - [`web`]: the HTTP status page.
//! - [`demo`]: `vigil demo`, the whole pipeline with synthetic cameras and scripted motion.
//!
//! The heart (pre-buffer, pool, recorder, fMP4) is in `vigil-core`; this crate is wiring.

pub mod api;
pub mod app;
pub mod camera;
pub mod catalog;
pub mod check;
pub mod clips;
pub mod config;
pub mod demo;
pub mod ingest;
pub mod live;
pub mod retention;
pub mod web;
