//! Small helpers several modules share, each kept once: the FNV-1a hash (clip folder names, the
//! UI's ETags) and hiding the password of a URL (the API, logs, `vigil check`).

/// FNV-1a, 64 bits: a stable, fast hash for names and validators (not for secrets).
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An error and its causes, `error: cause: cause` (HTTP and TLS errors keep the "why" in
/// their sources), each said once.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// `url` with its password removed (`rtsp://admin:secret@host/s` → `rtsp://admin@host/s`);
/// anything else is left exactly as written. Camera passwords never leave vigil.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match auth.rsplit_once('@') {
        Some((cred, host)) => {
            let user = cred.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The machine's host name (`localhost` if it has none that is valid UTF-8).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(s) if rc == 0 && !s.is_empty() => s.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("rtsp://admin:secret@10.0.0.2:554/s1"),
            "rtsp://admin@10.0.0.2:554/s1"
        );
        assert_eq!(redact_url("rtsp://10.0.0.2/s1"), "rtsp://10.0.0.2/s1");
        assert_eq!(redact_url("rtsp://a:b@c@host/x"), "rtsp://a@host/x");
        assert_eq!(
            redact_url("rtsp://admin:p%40ss@cam.local:554/live?x=1"),
            "rtsp://admin@cam.local:554/live?x=1"
        );
        assert_eq!(redact_url("file:/x.mp4"), "file:/x.mp4");
    }
}
