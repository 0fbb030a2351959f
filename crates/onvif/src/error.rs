//! Typed errors: XML that cannot be read, SOAP faults, and the ways a call can fail.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XmlError {
    #[error("malformed XML at byte {position}: {message}")]
    Syntax { position: u64, message: String },
    #[error("XML nested too deep")]
    TooDeep,
    #[error("XML has too many elements")]
    TooLarge,
}

/// A SOAP 1.2 Fault (SOAP 1.1 faults are read into the same shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SoapFault {
    /// `Code/Value` as written, e.g. `SOAP-ENV:Sender`.
    pub code: String,
    /// `Subcode/Value`s, outermost first, as written, e.g. `ter:NotAuthorized`.
    pub subcodes: Vec<String>,
    /// `Reason/Text` (often empty).
    pub reason: String,
    /// Local names of the elements inside `Detail` (e.g. `SubscribeCreationFailedFault`).
    pub detail: Vec<String>,
    /// HTTP status the fault came with, when known.
    pub http_status: Option<u16>,
}

fn local_part(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname).trim()
}

impl SoapFault {
    /// Whether a subcode, the code or a detail element has this local name. Compared after the
    /// prefix because gSOAP devices often use `ter:` without declaring it.
    pub fn has(&self, local: &str) -> bool {
        self.subcodes
            .iter()
            .chain(std::iter::once(&self.code))
            .any(|s| local_part(s).eq_ignore_ascii_case(local))
            || self.detail.iter().any(|d| d.eq_ignore_ascii_case(local))
    }

    pub fn is_not_authorized(&self) -> bool {
        self.has("NotAuthorized")
            || self.has("FailedAuthentication")
            || self.http_status == Some(401)
    }
}

impl fmt::Display for SoapFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = local_part(&self.code);
        write!(f, "{}", if code.is_empty() { "Fault" } else { code })?;
        for s in &self.subcodes {
            write!(f, "/{}", local_part(s))?;
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        if !self.detail.is_empty() {
            write!(f, " [{}]", self.detail.join(", "))?;
        }
        if let Some(s) = self.http_status {
            write!(f, " (HTTP {s})")?;
        }
        Ok(())
    }
}

/// Why a call to the camera failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("NotAuthorized: wrong username or password ({0})")]
    NotAuthorized(String),
    #[error("SOAP fault: {0}")]
    Fault(SoapFault),
    #[error("HTTP {status}: {snippet}")]
    Http { status: u16, snippet: String },
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("unexpected reply to {op}: {what}")]
    Unexpected { op: &'static str, what: String },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("invalid URL {0:?}")]
    Url(String),
    #[error("the camera offers no {0} service")]
    NoService(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
