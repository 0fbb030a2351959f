//! [`inspect`]: an MP4's box tree as indented text, for a debug endpoint and for tests.

use std::fmt::Write;

use super::boxes::{boxes, fourcc_str, Cursor, FourCC};
use super::Fmp4Error;

/// Deeper nesting than this is not a real MP4; stop rather than recurse on garbage.
const MAX_DEPTH: usize = 12;

/// The box tree of `data` as indented text, one box per line: type, offset, size and, for the
/// boxes vigil cares about, a few key fields. Never panics: a bad box prints `!malformed ...`
/// and ends its level.
pub fn inspect(data: &[u8]) -> String {
    let mut out = String::new();
    tree(&mut out, data, 0, 0);
    out
}

fn tree(out: &mut String, data: &[u8], base: u64, depth: usize) {
    let indent = "  ".repeat(depth);
    for b in boxes(data) {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                let _ = writeln!(out, "{indent}!malformed {e}");
                return;
            }
        };
        let offset = base + b.offset as u64;
        let _ = write!(
            out,
            "{indent}{} @{offset} size={}",
            fourcc_str(&b.kind),
            b.size
        );
        match describe(&b.kind, b.body) {
            Ok((fields, children)) => {
                let _ = writeln!(out, "{fields}");
                if let Some(skip) = children {
                    let body_at = offset + (b.size - b.body.len()) as u64;
                    match b.body.get(skip..) {
                        Some(kids) if depth < MAX_DEPTH => {
                            tree(out, kids, body_at + skip as u64, depth + 1)
                        }
                        _ => {
                            let _ = writeln!(out, "{indent}  !malformed too deep or too short");
                        }
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, " !malformed {e}");
            }
        }
    }
}

/// Key fields of one box, and where its child boxes start in its body (if it has any).
fn describe(kind: &FourCC, body: &[u8]) -> Result<(String, Option<usize>), Fmp4Error> {
    let mut c = Cursor::new(body, "box");
    let mut s = String::new();
    let children = match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf"
        | b"mfra" | b"edts" | b"udta" => Some(0),
        b"ftyp" => {
            let major = c.fourcc()?;
            let minor = c.u32()?;
            let mut brands = Vec::new();
            while c.remaining() >= 4 {
                brands.push(fourcc_str(&c.fourcc()?));
            }
            let _ = write!(
                s,
                " major={} minor={minor} compatible={}",
                fourcc_str(&major),
                brands.join(",")
            );
            None
        }
        b"mvhd" | b"mdhd" => {
            let (v, _) = c.version_flags()?;
            c.skip(if v == 1 { 16 } else { 8 })?;
            let timescale = c.u32()?;
            let duration = c.uint(v == 1)?;
            let _ = write!(s, " version={v} timescale={timescale} duration={duration}");
            None
        }
        b"tkhd" => {
            let (v, flags) = c.version_flags()?;
            c.skip(if v == 1 { 16 } else { 8 })?;
            let id = c.u32()?;
            c.skip(4)?;
            let duration = c.uint(v == 1)?;
            c.skip(52)?;
            let (w, h) = (c.u32()? >> 16, c.u32()? >> 16);
            let _ = write!(
                s,
                " track_id={id} flags={flags:#x} duration={duration} width={w} height={h}"
            );
            None
        }
        b"hdlr" => {
            c.skip(8)?;
            let _ = write!(s, " handler={}", fourcc_str(&c.fourcc()?));
            None
        }
        b"mehd" => {
            let (v, _) = c.version_flags()?;
            let _ = write!(s, " duration={}", c.uint(v == 1)?);
            None
        }
        b"trex" | b"tfhd" => {
            let (_, flags) = c.version_flags()?;
            let _ = write!(s, " track_id={} flags={flags:#x}", c.u32()?);
            None
        }
        b"mfhd" => {
            c.version_flags()?;
            let _ = write!(s, " sequence={}", c.u32()?);
            None
        }
        b"tfdt" => {
            let (v, _) = c.version_flags()?;
            let _ = write!(s, " base={}", c.uint(v == 1)?);
            None
        }
        b"trun" => {
            let (_, flags) = c.version_flags()?;
            let n = c.u32()?;
            let _ = write!(s, " samples={n} flags={flags:#x}");
            if flags & 1 != 0 {
                let _ = write!(s, " data_offset={}", c.u32()? as i32);
            }
            None
        }
        b"tfra" => {
            let (v, _) = c.version_flags()?;
            let id = c.u32()?;
            c.skip(4)?;
            let _ = write!(s, " version={v} track_id={id} entries={}", c.u32()?);
            None
        }
        b"mfro" => {
            c.version_flags()?;
            let _ = write!(s, " mfra_size={}", c.u32()?);
            None
        }
        b"stsd" | b"dref" => {
            c.version_flags()?;
            let _ = write!(s, " entries={}", c.u32()?);
            Some(8)
        }
        b"stts" | b"stss" | b"stsc" | b"stco" | b"co64" | b"ctts" => {
            c.version_flags()?;
            let _ = write!(s, " entries={}", c.u32()?);
            None
        }
        b"stsz" => {
            c.version_flags()?;
            let size = c.u32()?;
            let _ = write!(s, " sample_size={size} samples={}", c.u32()?);
            None
        }
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" => {
            c.skip(24)?;
            let (w, h) = (c.u16()?, c.u16()?);
            let _ = write!(s, " width={w} height={h}");
            Some(78)
        }
        b"mp4a" => {
            c.skip(16)?;
            let channels = c.u16()?;
            let bits = c.u16()?;
            c.skip(4)?;
            let rate = c.u32()? >> 16;
            let _ = write!(
                s,
                " channels={channels} samplesize={bits} samplerate={rate}"
            );
            Some(28)
        }
        b"avcC" | b"hvcC" => {
            let _ = write!(s, " config_bytes={}", body.len());
            None
        }
        b"esds" => {
            let _ = write!(s, " bytes={}", body.len());
            None
        }
        _ => None,
    };
    Ok((s, children))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_are_indented_with_offsets() {
        // moov { mvhd v0 (timescale 1000, duration 5) } + free
        let mut d = vec![0, 0, 0, 8 + 8 + 100, b'm', b'o', b'o', b'v'];
        d.extend_from_slice(&[0, 0, 0, 108, b'm', b'v', b'h', b'd', 0, 0, 0, 0]);
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&1000u32.to_be_bytes());
        d.extend_from_slice(&5u32.to_be_bytes());
        d.resize(116, 0);
        d.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
        let text = inspect(&d);
        assert_eq!(
            text,
            "moov @0 size=116\n  mvhd @8 size=108 version=0 timescale=1000 duration=5\nfree @116 size=8\n"
        );
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let text = inspect(&[0, 0, 0, 12, b't', b'k', b'h', b'd', 0, 0, 0, 0, 0xff]);
        assert!(text.contains("tkhd @0 size=12 !malformed"), "{text}");
        assert!(text.contains("!malformed"), "{text}");
        assert_eq!(inspect(&[]), "");
        assert!(inspect(&[0, 0, 0, 200, b'm', b'o', b'o', b'v']).starts_with("!malformed"));
    }
}
