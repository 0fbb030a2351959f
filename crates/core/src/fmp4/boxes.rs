//! Box (atom) encoding, MPEG-4 descriptor encoding, and bounds-checked parsing helpers shared by
//! the writer, the parsers and `inspect`. Nothing here trusts a size field: every read is checked
//! against the slice it comes from.

use bytes::BufMut;

use super::Fmp4Error;

pub(super) type FourCC = [u8; 4];

/// Starts a box: a zero size (filled in by [`end_box`]) and the type. Returns the box start.
pub(super) fn begin_box(buf: &mut Vec<u8>, kind: &FourCC) -> usize {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_slice(kind);
    start
}

/// Starts a full box (version and 24-bit flags after the header).
pub(super) fn begin_full_box(buf: &mut Vec<u8>, kind: &FourCC, version: u8, flags: u32) -> usize {
    let start = begin_box(buf, kind);
    buf.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
    start
}

/// Patches the size of the box started at `start`. Boxes built in memory (moov, moof, mfra) are
/// kilobytes; an `mdat` header is written by [`put_mdat_header`] instead.
pub(super) fn end_box(buf: &mut [u8], start: usize) {
    let size = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Writes an `mdat` header for a payload of `payload` bytes (64-bit size when needed) and
/// returns the header length.
pub(super) fn put_mdat_header(buf: &mut Vec<u8>, payload: u64) -> usize {
    match u32::try_from(payload + 8) {
        Ok(size) => {
            buf.put_u32(size);
            buf.put_slice(b"mdat");
            8
        }
        Err(_) => {
            buf.put_u32(1);
            buf.put_slice(b"mdat");
            buf.put_u64(payload + 16);
            16
        }
    }
}

/// Number of bytes the expandable length of an MPEG-4 descriptor takes (7 bits per byte).
pub(super) fn descriptor_len_bytes(len: usize) -> usize {
    let mut n = 1;
    while n < 4 && len >> (7 * n) != 0 {
        n += 1;
    }
    n
}

/// Total size of a descriptor with a body of `len` bytes: tag, length, body.
pub(super) fn descriptor_size(len: usize) -> usize {
    1 + descriptor_len_bytes(len) + len
}

/// Writes a descriptor tag and its length in the shortest expandable form (ISO 14496-1 8.3.3).
/// Lengths are below 2^28 (callers check), the format's limit.
pub(super) fn put_descriptor_header(buf: &mut Vec<u8>, tag: u8, len: usize) {
    buf.put_u8(tag);
    let n = descriptor_len_bytes(len);
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        buf.put_u8(((len >> (7 * i)) & 0x7f) as u8 | more);
    }
}

pub(super) fn malformed(msg: impl Into<String>) -> Fmp4Error {
    Fmp4Error::Malformed(msg.into())
}

/// A bounds-checked big-endian reader over one box body.
#[derive(Clone)]
pub(super) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(data: &'a [u8], what: &'static str) -> Self {
        Cursor { data, pos: 0, what }
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Fmp4Error> {
        if n > self.remaining() {
            return Err(malformed(format!(
                "{}: wants {n} bytes, {} left",
                self.what,
                self.remaining()
            )));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(super) fn skip(&mut self, n: usize) -> Result<(), Fmp4Error> {
        self.bytes(n).map(|_| ())
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..];
        self.pos = self.data.len();
        out
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fmp4Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, Fmp4Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, Fmp4Error> {
        self.array().map(u16::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Result<u32, Fmp4Error> {
        self.array().map(u32::from_be_bytes)
    }

    pub(super) fn u64(&mut self) -> Result<u64, Fmp4Error> {
        self.array().map(u64::from_be_bytes)
    }

    pub(super) fn fourcc(&mut self) -> Result<FourCC, Fmp4Error> {
        self.array()
    }

    /// A full box's version and flags.
    pub(super) fn version_flags(&mut self) -> Result<(u8, u32), Fmp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// A 32- or 64-bit field, by the full box's version.
    pub(super) fn uint(&mut self, wide: bool) -> Result<u64, Fmp4Error> {
        if wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    /// An MPEG-4 descriptor: (tag, body).
    pub(super) fn descriptor(&mut self) -> Result<(u8, &'a [u8]), Fmp4Error> {
        let tag = self.u8()?;
        let mut len = 0usize;
        for _ in 0..4 {
            let b = self.u8()?;
            len = (len << 7) | usize::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok((tag, self.bytes(len)?));
            }
        }
        Err(malformed(format!(
            "{}: descriptor length too long",
            self.what
        )))
    }
}

/// A parsed box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub kind: FourCC,
    pub header_len: usize,
    /// Total size including the header; `None` for size 0 ("to the end of the file").
    pub size: Option<u64>,
}

/// Parses a box header from the start of `data` (which needs at most 16 bytes). `None` when
/// `data` is too short to hold it.
pub(super) fn parse_header(data: &[u8]) -> Option<Header> {
    let size32 = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
    let kind: FourCC = data.get(4..8)?.try_into().ok()?;
    match size32 {
        0 => Some(Header {
            kind,
            header_len: 8,
            size: None,
        }),
        1 => {
            let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
            Some(Header {
                kind,
                header_len: 16,
                size: Some(large),
            })
        }
        n => Some(Header {
            kind,
            header_len: 8,
            size: Some(u64::from(n)),
        }),
    }
}

/// One child box inside a slice.
#[derive(Debug, Clone, Copy)]
pub(super) struct BoxRef<'a> {
    pub kind: FourCC,
    /// Offset of the box's header within the slice iterated.
    pub offset: usize,
    pub size: usize,
    pub body: &'a [u8],
}

/// Iterates the boxes of a slice. Yields one `Err` for a bad header and then stops.
pub(super) struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
}

pub(super) fn boxes(data: &[u8]) -> Boxes<'_> {
    Boxes { data, pos: 0 }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<BoxRef<'a>, Fmp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let offset = self.pos;
        self.pos = self.data.len();
        let Some(h) = parse_header(rest) else {
            return Some(Err(malformed(format!(
                "box header at {offset} truncated ({} bytes left)",
                rest.len()
            ))));
        };
        let size = match h.size {
            None => rest.len(),
            Some(s) => match usize::try_from(s) {
                Ok(s) if s >= h.header_len && s <= rest.len() => s,
                _ => {
                    return Some(Err(malformed(format!(
                        "box '{}' at {offset}: size {s} invalid ({} bytes left)",
                        fourcc_str(&h.kind),
                        rest.len()
                    ))))
                }
            },
        };
        self.pos = offset + size;
        Some(Ok(BoxRef {
            kind: h.kind,
            offset,
            size,
            body: &rest[h.header_len..size],
        }))
    }
}

/// The first child box of type `kind`, if any; errors on a malformed sibling before it.
pub(super) fn find<'a>(data: &'a [u8], kind: &FourCC) -> Result<Option<BoxRef<'a>>, Fmp4Error> {
    for b in boxes(data) {
        let b = b?;
        if &b.kind == kind {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Like [`find`], but the box is required.
pub(super) fn require<'a>(
    data: &'a [u8],
    kind: &FourCC,
    parent: &str,
) -> Result<BoxRef<'a>, Fmp4Error> {
    find(data, kind)?.ok_or_else(|| malformed(format!("'{parent}' has no '{}'", fourcc_str(kind))))
}

/// A four-character code for humans: printable ASCII as is, anything else escaped.
pub(super) fn fourcc_str(kind: &FourCC) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sizes_are_patched() {
        let mut buf = Vec::new();
        let outer = begin_box(&mut buf, b"moov");
        let inner = begin_full_box(&mut buf, b"mvhd", 1, 0x0102_0304);
        buf.put_u32(7);
        end_box(&mut buf, inner);
        end_box(&mut buf, outer);
        assert_eq!(
            buf,
            [
                0, 0, 0, 24, b'm', b'o', b'o', b'v', 0, 0, 0, 16, b'm', b'v', b'h', b'd', 1, 2, 3,
                4, 0, 0, 0, 7
            ]
        );
        let all: Vec<_> = boxes(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].size, 24);
        let kids: Vec<_> = boxes(all[0].body).collect::<Result<_, _>>().unwrap();
        assert_eq!((kids[0].kind, kids[0].size), (*b"mvhd", 16));
    }

    #[test]
    fn descriptor_lengths_use_the_shortest_form() {
        let cases: [(usize, &[u8]); 6] = [
            (0, &[0x05, 0x00]),
            (2, &[0x05, 0x02]),
            (127, &[0x05, 0x7f]),
            (128, &[0x05, 0x81, 0x00]),
            (16_383, &[0x05, 0xff, 0x7f]),
            (16_384, &[0x05, 0x81, 0x80, 0x00]),
        ];
        for (len, want) in cases {
            let mut buf = Vec::new();
            put_descriptor_header(&mut buf, 5, len);
            assert_eq!(buf, want, "len {len}");
            assert_eq!(descriptor_size(len), want.len() + len);
            // And it parses back.
            buf.resize(buf.len() + len, 0xaa);
            let mut c = Cursor::new(&buf, "test");
            let (tag, body) = c.descriptor().unwrap();
            assert_eq!((tag, body.len(), c.remaining()), (5, len, 0));
        }
    }

    #[test]
    fn four_byte_padded_descriptor_lengths_parse() {
        // ffmpeg writes 0x80 0x80 0x80 len.
        let buf = [0x05, 0x80, 0x80, 0x80, 0x02, 0x11, 0x90];
        let (tag, body) = Cursor::new(&buf, "t").descriptor().unwrap();
        assert_eq!((tag, body), (5, &[0x11, 0x90][..]));
    }

    #[test]
    fn large_mdat_uses_a_64_bit_size() {
        let mut buf = Vec::new();
        assert_eq!(put_mdat_header(&mut buf, 100), 8);
        assert_eq!(buf, [0, 0, 0, 108, b'm', b'd', b'a', b't']);
        buf.clear();
        assert_eq!(put_mdat_header(&mut buf, u64::from(u32::MAX)), 16);
        let h = parse_header(&buf).unwrap();
        assert_eq!(h.size, Some(u64::from(u32::MAX) + 16));
        assert_eq!(h.header_len, 16);
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        // Size smaller than the header, size past the end, truncated header, largesize overflow.
        for data in [
            &[0, 0, 0, 4, b'f', b'r', b'e', b'e'][..],
            &[0, 0, 0, 9, b'f', b'r', b'e', b'e'][..],
            &[0, 0, 0][..],
            &[
                0, 0, 0, 1, b'm', b'd', b'a', b't', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ][..],
        ] {
            let r: Result<Vec<_>, _> = boxes(data).collect();
            assert!(matches!(r, Err(Fmp4Error::Malformed(_))), "{data:?}");
        }
        assert!(Cursor::new(&[1, 2], "t").u32().is_err());
    }
}
