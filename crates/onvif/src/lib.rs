//! vigil's ONVIF client: motion events over PullPoint, and the RTSP URL of a camera.
//!
//! Map of the modules, from the wire up:
//! - [`xml`]: a namespace-resolved element tree (quick-xml `NsReader`), tolerant of what cameras
//!   send (undeclared prefixes, fragments, odd whitespace).
//! - [`time`]: xsd:dateTime / xsd:duration, parsed leniently.
//! - [`soap`]: SOAP 1.2 envelopes with WS-Addressing headers; replies and typed Faults.
//! - [`security`]: WS-Security UsernameToken PasswordDigest.
//! - [`digest`]: HTTP Digest (RFC 7616) and Basic.
//! - [`ops`]: the operations (device, media, events): request bodies and reply parsing.
//! - [`notification`]: `wsnt:NotificationMessage` parsing.
//! - [`topics`]: namespace-aware topic paths and which topics mean motion.
//! - [`pullpoint`]: the PullPoint lifecycle as a sans-IO state machine.
//! - [`health`]: what the API shows about a subscription.
//! - [`http`], [`driver`]: the only async code: a small hyper client and the per-camera task
//!   ([`run_events`]), plus [`probe`] and [`stream_uri`].
//!
//! Everything but `http` and `driver` is plain synchronous code with no I/O and no clock.

pub mod digest;
pub mod discovery;
pub mod driver;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod kinds;
pub mod notification;
pub mod ops;
pub mod pullpoint;
pub mod security;
pub mod soap;
pub mod time;
pub mod topics;
pub mod xml;

pub use driver::{
    probe, profiles_with_uris, run_events, stream_uri, sub_stream_uri, CameraConfig, ProbeReport,
};
pub use error::{Error, SoapFault, XmlError};
pub use health::{Health, SubscriptionState};
pub use kinds::{classify, Classified, KindMatcher, KindState, KindTopic};
pub use notification::{parse_notifications, Item, NotificationMessage, PropertyOperation};
pub use ops::MediaProfile;
pub use pullpoint::{MotionEvent, PullPoint, PullPointConfig};
pub use topics::{MotionMatcher, MotionTopic, TopicPath};
