//! What the API shows about one camera's event subscription.

use serde::{Serialize, Serializer};
use vigil_core::time::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Learning the clock and the event service, creating a pull point.
    Connecting,
    /// A pull point exists and is being pulled.
    Subscribed,
    /// The last attempt failed; waiting `backoff_ms` before the next.
    Backoff,
    /// Shut down (after Unsubscribe).
    Stopped,
}

impl SubscriptionState {
    /// The name the API and notices use (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Connecting => "connecting",
            SubscriptionState::Subscribed => "subscribed",
            SubscriptionState::Backoff => "backoff",
            SubscriptionState::Stopped => "stopped",
        }
    }
}

fn opt_time<S: Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_string()),
        None => s.serialize_none(),
    }
}

/// Subscription health. Times are the local clock's, RFC 3339 UTC when serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub state: SubscriptionState,
    /// The current pull point's address.
    pub subscription: Option<String>,
    pub event_service: Option<String>,
    /// Camera clock minus local clock, from GetSystemDateAndTime.
    pub clock_offset_ms: Option<i64>,
    #[serde(serialize_with = "opt_time")]
    pub last_pull_at: Option<Time>,
    /// Successful PullMessages calls.
    pub pulls: u64,
    /// Notification messages received (any topic).
    pub messages: u64,
    /// Motion on/off messages among them.
    pub motion_events: u64,
    /// Pull points created.
    pub subscriptions: u64,
    pub renewals: u64,
    /// Failed attempts (fault, timeout, connection error, wrong password …).
    pub errors: u64,
    /// Failures since the last successful pull.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    #[serde(serialize_with = "opt_time")]
    pub last_error_at: Option<Time>,
    /// The current wait before the next attempt, while in `backoff`.
    pub backoff_ms: Option<u64>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: SubscriptionState::Connecting,
            subscription: None,
            event_service: None,
            clock_offset_ms: None,
            last_pull_at: None,
            pulls: 0,
            messages: 0,
            motion_events: 0,
            subscriptions: 0,
            renewals: 0,
            errors: 0,
            consecutive_failures: 0,
            last_error: None,
            last_error_at: None,
            backoff_ms: None,
        }
    }
}
