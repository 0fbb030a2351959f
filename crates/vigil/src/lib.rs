//! # vigil: the binary's library
//!
//! Where a packet goes next, by module (arrows point down: nothing below imports what is above
//! it, and the runtime imports nothing of the HTTP side):
//!
//! - [`cli`]: `main` and one module per subcommand (`run`, `demo`, `check`, ...). Thin.
//! - [`http`]: the HTTP server, the API ([`http::api`]), `/metrics`, the web UI and the plain
//!   status page: a *client* of the runtime through [`runtime::RuntimeHandle`].
//! - [`runtime`]: the running recorder: start-up, the camera set ([`runtime::cameras`]: start,
//!   stop, restart one camera by name), shutdown in a stated order; the ingest runtimes
//!   ([`runtime::live`]) that run RTSP and ONVIF tasks.
//! - [`notice`]: what a camera reports, and the one stream of it that the catalog (and later
//!   MQTT, webhooks, the UI's live updates) subscribe to.
//! - [`liveview`]: each camera's live view: its packets fanned out to viewers as fMP4 as they
//!   arrive, before the camera's worker sees them.
//! - [`ingest`]: sources of packets: RTSP cameras ([`ingest::rtsp`], retina behind a small trait)
//!   and the looping-file source ([`ingest::file`]) the demo and tests use, both producing the
//!   same [`ingest::SourceEvent`] stream.
//! - [`camera`]: one worker thread per camera. [`camera::CameraPipeline`] drives the core's
//!   recorder state machine and executes its actions on the camera's pre-buffer and clip slot.
//! - [`clips`]: where clip files live (`storage.root/<camera>/<YYYY-MM-DD>/`) and the record of each.
//! - [`catalog`]: SQLite or PostgreSQL: cameras, API-set settings, motion events, clips; crash
//!   reconciliation; the writer that turns notices into rows.
//! - [`remote`]: the clip store: closed clips uploaded to an S3-compatible store, and read back.
//! - [`retention`]: which clips to delete (age, total bytes, free disk) and deleting them safely.
//! - [`config`]: the configuration file.
//! - [`util`]: the few helpers several of the above share (FNV-1a, hiding URL passwords).
//!
//! The heart (pre-buffer, pool, recorder, fMP4) is in `vigil-core`; the ONVIF client in
//! `vigil-onvif`; this crate is wiring. docs/data-flow.md draws the picture.

pub mod auth;
pub mod camera;
pub mod catalog;
pub mod cli;
pub mod clips;
pub mod config;
pub mod detect;
pub mod discover;
pub mod http;
pub mod ingest;
pub mod integrations;
pub mod liveview;
pub mod notice;
pub mod remote;
pub mod retention;
pub mod runtime;
pub mod thumbs;
pub mod util;
