//! Users, passwords, sessions and the sign-in limiter (docs/users.md). Pure parts here; the
//! catalog keeps users and sessions (`catalog/users.rs`), the HTTP side asks
//! (`http/api/auth.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// How long a session lasts after signing in.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The session cookie's name.
pub const COOKIE: &str = "vigil_session";
/// Failed sign-ins one address may make within [`LIMIT_WINDOW`] before it has to wait.
pub const LIMIT_FAILURES: u32 = 5;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Watch and browse; nothing that changes state.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?}: expected admin or viewer")),
        }
    }
}

/// A user name: 1 to 64 printable characters, no spaces at either end.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(
            "a user name is 1 to 64 printable characters, without spaces at either end".into(),
        );
    }
    Ok(())
}

/// A password: at least 8 characters, at most 1024 (argon2 takes any, a server shouldn't).
pub fn check_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < 8 {
        return Err("a password needs at least 8 characters".into());
    }
    if n > 1024 {
        return Err("a password of more than 1024 characters is refused".into());
    }
    Ok(())
}

/// The argon2id hash of `password` with a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (a hash that doesn't parse matches nothing).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user doesn't exist, so that a wrong name takes as long
/// as a wrong password (no telling which names exist by the time it takes).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

/// A new session's cookie value: 32 random bytes, hex.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex(&b)
}

/// What the catalog keeps of a session token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Failed sign-ins per address: after [`LIMIT_FAILURES`] within [`LIMIT_WINDOW`], that address
/// waits until the window of its first failure has passed. A success clears its count.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    /// `Some(wait)` when `ip` must wait before trying again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.retain(|_, (since, _)| now.duration_since(*since) < LIMIT_WINDOW);
        let (since, n) = f.get(&ip)?;
        (*n >= LIMIT_FAILURES).then(|| LIMIT_WINDOW.saturating_sub(now.duration_since(*since)))
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = f.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= LIMIT_WINDOW {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
        assert!(!verify_password("decoy", decoy_hash()));
    }

    #[test]
    fn tokens_are_random_and_kept_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(
            cookie("theme=dark; vigil_session=abc ; x=1", COOKIE),
            Some("abc")
        );
        assert_eq!(cookie("theme=dark", COOKIE), None);
    }

    #[test]
    fn names_roles_and_passwords_are_checked() {
        assert!(check_name("alice").is_ok());
        for bad in ["", " alice", "a\nb", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert_eq!("viewer".parse::<Role>(), Ok(Role::Viewer));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn failed_sign_ins_are_limited_per_address() {
        let l = LoginLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..LIMIT_FAILURES {
            assert_eq!(l.check(a, t0), None, "try {i}");
            l.failed(a, t0);
        }
        let wait = l.check(a, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(l.check(b, t0), None, "another address is not held up");
        assert_eq!(l.check(a, t0 + LIMIT_WINDOW), None, "the window passed");
        l.failed(b, t0);
        l.succeeded(b);
        assert_eq!(l.failures.lock().unwrap().get(&b), None);
    }
}
