//! WS-Security UsernameToken with PasswordDigest (ONVIF Core §5.12, WSS UsernameToken Profile 1.0).
//!
//! `Digest = Base64(SHA1(nonce + created + password))`, where `nonce` is the raw bytes (sent
//! Base64-encoded) and `created` is the exact `wsu:Created` text. Cameras reject a `Created` far
//! from their own clock, so the caller passes the *camera's* time (local time + the offset learned
//! from GetSystemDateAndTime).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use vigil_core::time::Time;

use crate::time::format_datetime;
use crate::xml::{escape, ns, Element};

pub const PASSWORD_DIGEST_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
pub const BASE64_ENCODING_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// `Base64(SHA1(nonce + created + password))`.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    B64.encode(h.finalize())
}

/// A UsernameToken ready to be written into a `wsse:Security` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub nonce_b64: String,
    pub created: String,
    pub digest: String,
}

impl UsernameToken {
    /// `camera_now` is the camera's clock (local now + learned offset), not the local clock.
    pub fn new(username: &str, password: &str, nonce: [u8; 16], camera_now: Time) -> Self {
        let created = format_datetime(camera_now);
        UsernameToken {
            username: username.to_string(),
            nonce_b64: B64.encode(nonce),
            digest: password_digest(&nonce, &created, password),
            created,
        }
    }

    /// The `wsse:Security` header element.
    pub fn to_xml(&self) -> String {
        format!(
            concat!(
                "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{wsse}\" xmlns:wsu=\"{wsu}\">",
                "<wsse:UsernameToken>",
                "<wsse:Username>{user}</wsse:Username>",
                "<wsse:Password Type=\"{ptype}\">{digest}</wsse:Password>",
                "<wsse:Nonce EncodingType=\"{enc}\">{nonce}</wsse:Nonce>",
                "<wsu:Created>{created}</wsu:Created>",
                "</wsse:UsernameToken></wsse:Security>"
            ),
            wsse = ns::WSSE,
            wsu = ns::WSU,
            user = escape(&self.username),
            ptype = PASSWORD_DIGEST_TYPE,
            digest = self.digest,
            enc = BASE64_ENCODING_TYPE,
            nonce = self.nonce_b64,
            created = escape(&self.created),
        )
    }
}

/// A UsernameToken as received (the simulated camera checks these).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedToken {
    pub username: String,
    pub password: String,
    pub password_is_digest: bool,
    pub nonce_b64: String,
    pub created: String,
}

impl ReceivedToken {
    /// Reads the UsernameToken from a SOAP `Header` element, if any.
    pub fn from_header(header: &Element) -> Option<ReceivedToken> {
        let sec = header.child(ns::WSSE, "Security")?;
        let tok = sec.child(ns::WSSE, "UsernameToken")?;
        let pw = tok.child(ns::WSSE, "Password");
        Some(ReceivedToken {
            username: tok
                .child_text(ns::WSSE, "Username")
                .unwrap_or("")
                .to_string(),
            password: pw.map(|p| p.text_trimmed().to_string()).unwrap_or_default(),
            password_is_digest: pw
                .and_then(|p| p.attr("Type"))
                .is_none_or(|t| t.ends_with("#PasswordDigest")),
            nonce_b64: tok.child_text(ns::WSSE, "Nonce").unwrap_or("").to_string(),
            created: tok.child_text(ns::WSU, "Created").unwrap_or("").to_string(),
        })
    }

    /// Whether the token proves knowledge of `password`.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        if self.username != username {
            return false;
        }
        if !self.password_is_digest {
            return self.password == password;
        }
        let Ok(nonce) = B64.decode(self.nonce_b64.as_bytes()) else {
            return false;
        };
        password_digest(&nonce, &self.created, password) == self.password
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the ONVIF Application Programmer's Guide (§6.1.1.3).
    #[test]
    fn digest_matches_onvif_programmers_guide_vector() {
        let nonce = B64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn token_roundtrip_and_wrong_password() {
        let t = UsernameToken::new("admin", "secret", [7; 16], Time::from_secs(1_700_000_000));
        assert_eq!(t.created, "2023-11-14T22:13:20.000Z");
        let xml = format!(
            "<s:Header xmlns:s=\"{}\">{}</s:Header>",
            crate::xml::ns::SOAP12,
            t.to_xml()
        );
        let doc = crate::xml::parse(&xml).unwrap();
        let got = ReceivedToken::from_header(&doc.roots[0]).unwrap();
        assert_eq!(got.created, t.created);
        assert!(got.password_is_digest);
        assert!(got.verify("admin", "secret"));
        assert!(!got.verify("admin", "Secret"));
        assert!(!got.verify("root", "secret"));
    }
}
