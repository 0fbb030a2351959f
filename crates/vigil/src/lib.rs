//! # vigil: the binary's library
//!
//! Where a packet goes next, by module:
//!
//! - [`ingest`]: sources of packets: RTSP cameras ([`ingest::rtsp`], retina behind a small trait)
//!   and the looping-file source ([`ingest::file`]) the demo and tests use, both producing the
//!   same [`ingest::SourceEvent`] stream. [`live`] runs them (and the ONVIF event clients) as one
//!   task per camera.
//! - [`camera`]: one worker thread per camera. [`camera::CameraPipeline`] drives the core's
//!   recorder state machine and executes its actions on the camera's pre-buffer and clip slot.
//! - [`clips`]: where clip files live (`storage.root/<camera>/<YYYY-MM-DD>/`) and the record of each.
//! - [`catalog`]: SQLite: cameras, API-set settings, motion events, clips; crash reconciliation.
//! - [`retention`]: which clips to delete (age, total bytes, free disk) and deleting them safely.
//! - [`api`]: the HTTP API and `/metrics`; [`web`]: the HTTP server, the embedded web UI and a
//!   plain status page.
//! - [`app`]: all of the above for a configuration ([`config`]); `vigil run`, [`demo`] and
//!   [`check`] are built on it.
//!
//! The heart (pre-buffer, pool, recorder, fMP4) is in `vigil-core`; the ONVIF client in
//! `vigil-onvif`; this crate is wiring.

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
