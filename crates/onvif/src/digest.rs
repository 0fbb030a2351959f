//! HTTP Digest access authentication (RFC 7616: MD5 and SHA-256, `-sess` variants, qop=auth,
//! and RFC 2069 without qop) and Basic, for cameras that answer 401 with `WWW-Authenticate`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }
    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    fn sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// A `WWW-Authenticate: Digest …` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered qop=auth (auth-int is not supported and is ignored).
    pub qop_auth: bool,
    pub stale: bool,
}

/// Splits `k=v, k="v, with comma"` auth-params.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',' || b[i] == b'\t') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                val.push_str(&s[i..i + ch_len]);
                i += ch_len;
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[vs..i].trim().to_string();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

impl Challenge {
    /// Picks the best Digest challenge among `WWW-Authenticate` values (SHA-256 over MD5).
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(Challenge::parse)
            .max_by_key(|c| matches!(c.algorithm, Algorithm::Sha256 | Algorithm::Sha256Sess))
    }

    pub fn parse(header: &str) -> Option<Challenge> {
        let h = header.trim();
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let p = params(rest);
        let get = |k: &str| p.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        Some(Challenge {
            realm: get("realm").unwrap_or_default(),
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop_auth: get("qop").is_some_and(|q| q.split(',').any(|x| x.trim() == "auth")),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The `response` value (lowercase hex) for one request.
    pub fn response(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let a = self.algorithm;
        let mut ha1 = a.hash(&format!("{username}:{}:{password}", self.realm));
        if a.sess() {
            ha1 = a.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = a.hash(&format!("{method}:{uri}"));
        if self.qop_auth {
            a.hash(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            a.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        }
    }

    /// The `Authorization` header value.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let resp = self.response(username, password, method, uri, nc, cnonce);
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut h = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}, response=\"{resp}\"",
            q(username),
            q(&self.realm),
            q(&self.nonce),
            q(uri),
            self.algorithm.name()
        );
        if self.qop_auth {
            h.push_str(&format!(
                ", qop=auth, nc={nc:08x}, cnonce=\"{}\"",
                q(cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            h.push_str(&format!(", opaque=\"{}\"", q(o)));
        }
        h
    }
}

/// A received `Authorization: Digest …` header (the simulated camera verifies these).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
}

impl Credentials {
    pub fn parse(header: &str) -> Option<Credentials> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let p = params(rest);
        let get = |k: &str| p.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
        Some(Credentials {
            username: get("username")?,
            realm: get("realm").unwrap_or_default(),
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?,
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
            algorithm: get("algorithm"),
        })
    }

    /// Checks the response against `password` for the challenge this server issued.
    pub fn verify(&self, challenge: &Challenge, password: &str, method: &str) -> bool {
        if self.nonce != challenge.nonce || self.realm != challenge.realm {
            return false;
        }
        let nc = self
            .nc
            .as_deref()
            .and_then(|n| u32::from_str_radix(n, 16).ok())
            .unwrap_or(0);
        let mut ch = challenge.clone();
        ch.qop_auth = self.qop.as_deref() == Some("auth");
        let expect = ch.response(
            &self.username,
            password,
            method,
            &self.uri,
            nc,
            self.cnonce.as_deref().unwrap_or(""),
        );
        expect.eq_ignore_ascii_case(&self.response)
    }
}

/// `Authorization: Basic …`.
pub fn basic(username: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{username}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1, both algorithms.
    #[test]
    fn rfc7616_vectors() {
        for (alg, want) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let hdr = format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            );
            let c = Challenge::parse(&hdr).unwrap();
            assert!(c.qop_auth);
            let resp = c.response(
                "Mufasa",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                1,
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            );
            assert_eq!(resp, want, "{alg}");
        }
    }

    /// RFC 2617 §3.5.
    #[test]
    fn rfc2617_vector_and_roundtrip() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        let auth = c.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            auth.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{auth}"
        );
        let cred = Credentials::parse(&auth).unwrap();
        assert!(cred.verify(&c, "Circle Of Life", "GET"));
        assert!(!cred.verify(&c, "circle of life", "GET"));
        assert!(!cred.verify(&c, "Circle Of Life", "POST"));
    }

    #[test]
    fn picks_sha256_and_ignores_basic() {
        let c = Challenge::from_headers([
            "Basic realm=\"x\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\", stale=TRUE",
        ])
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert!(c.stale);
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(
            Challenge::parse("Digest realm=\"r\"").is_none(),
            "nonce is required"
        );
    }
}
