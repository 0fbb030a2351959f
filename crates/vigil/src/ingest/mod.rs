//! Sources of packets. A source turns a camera (or a file) into a stream of [`SourceEvent`]s; the
//! camera worker doesn't care which kind it has.

pub mod file;
pub mod rtsp;

use std::sync::Arc;

use vigil_core::packet::{Packet, StreamParams};

/// What a source reports to its camera worker.
#[derive(Debug)]
pub enum SourceEvent {
    /// The stream is up with these parameters (sent first, and again when they change; the next
    /// video packet after a change is a keyframe).
    Params(Arc<StreamParams>),
    Packet(Packet),
    /// The stream went away; the source will report `Params` again when it is back.
    Lost(String),
}
