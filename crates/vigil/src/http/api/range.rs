//! HTTP `Range: bytes=…` for clip downloads (RFC 9110 §14), one range per request: enough for a
//! browser's `<video>` to seek. A request with several ranges gets the whole file (allowed).

/// What to send for a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReply {
    /// 200: the whole file.
    Full,
    /// 206: bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416: nothing satisfiable.
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, len: u64) -> RangeReply {
    let Some(h) = header else {
        return RangeReply::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeReply::Full; // another unit: ignore the header
    };
    if spec.contains(',') {
        return RangeReply::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReply::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => RangeReply::Unsatisfiable,
            Some(n) if len > 0 => RangeReply::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => RangeReply::Unsatisfiable,
            None => RangeReply::Full,
        },
        // bytes=A-: from A to the end.
        (false, true) => match num(a) {
            Some(s) if s < len => RangeReply::Partial {
                start: s,
                end: len - 1,
            },
            Some(_) => RangeReply::Unsatisfiable,
            None => RangeReply::Full,
        },
        // bytes=A-B.
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s <= e && s < len => RangeReply::Partial {
                start: s,
                end: e.min(len - 1),
            },
            (Some(s), Some(e)) if s <= e => RangeReply::Unsatisfiable,
            _ => RangeReply::Full, // syntactically invalid: ignore
        },
        (true, true) => RangeReply::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeReply::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 100), Full);
        assert_eq!(parse(Some("bytes=0-9"), 100), Partial { start: 0, end: 9 });
        assert_eq!(
            parse(Some("bytes=50-"), 100),
            Partial { start: 50, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=-10"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=-1000"), 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(
            parse(Some("bytes=90-1000"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(parse(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=200-300"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=9-0"), 100), Full);
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse(Some("items=0-1"), 100), Full);
        assert_eq!(parse(Some("bytes=x-y"), 100), Full);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
    }
}
