//! H.265 pictures classified from their NAL unit headers.
//!
//! retina (0.4.21) flags an H.265 frame as a random-access point only when its slices are IDR, so
//! the keyframes of open-GOP streams (CRA pictures: x265's default, and some cameras) would come
//! back as ordinary frames and the pre-buffer would never see a GOP start. So vigil reads the NAL
//! headers itself: an access unit whose VCL NAL units are all IRAP types (16–23: BLA, IDR, CRA) is
//! a keyframe.
//!
//! RASL pictures (types 8 and 9) are the leading pictures of a CRA or BLA picture that reference
//! pictures *before* it in decode order. A clip or a pre-buffer GOP that starts at that CRA doesn't
//! have those references, so its RASL pictures can't be decoded. The ingest drops every RASL
//! picture (see `session.rs`), which makes every GOP decodable on its own.

/// What one access unit is, as far as a GOP is concerned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Picture {
    /// Every VCL NAL unit is IRAP (BLA/IDR/CRA): a GOP can start here.
    Irap,
    /// A random-access skipped leading picture: undecodable without the previous GOP.
    Rasl,
    /// Anything else (trailing pictures, RADL, or an access unit with no VCL NAL unit).
    Other,
}

const RASL_N: u8 = 8;
const RASL_R: u8 = 9;
const IRAP_FIRST: u8 = 16; // BLA_W_LP
const IRAP_LAST: u8 = 23; // RSV_IRAP_VCL23
const VCL_LAST: u8 = 31;

/// Classifies an access unit given as 4-byte length-prefixed NAL units (the MP4 sample format).
/// Only base-layer NAL units (nuh_layer_id 0) count. A truncated or malformed unit ends the scan:
/// what came before it decides, and with nothing before it the picture is `Other` (never a
/// keyframe on the strength of garbage).
pub fn classify(mut data: &[u8]) -> Picture {
    let mut vcl = 0usize;
    let mut irap = 0usize;
    while data.len() >= 4 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let Some(nal) = data.get(4..4 + len) else {
            break;
        };
        data = &data[4 + len..];
        if nal.len() < 2 {
            continue;
        }
        let nal_type = (nal[0] >> 1) & 0x3f;
        let layer_id = ((nal[0] & 1) << 5) | (nal[1] >> 3);
        if layer_id != 0 || nal_type > VCL_LAST {
            continue;
        }
        if nal_type == RASL_N || nal_type == RASL_R {
            return Picture::Rasl;
        }
        vcl += 1;
        if (IRAP_FIRST..=IRAP_LAST).contains(&nal_type) {
            irap += 1;
        }
    }
    if vcl > 0 && irap == vcl {
        Picture::Irap
    } else {
        Picture::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An access unit of NAL units with these types (base layer, temporal id 1).
    fn au(types: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &t in types {
            let nal = [t << 1, 1, 0xaf, 0x00, 0x11];
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(&nal);
        }
        out
    }

    #[test]
    fn irap_types_are_keyframes() {
        for t in 16..=23 {
            assert_eq!(classify(&au(&[t])), Picture::Irap, "type {t}");
        }
        // CRA after an AUD and a prefix SEI, two slices.
        assert_eq!(classify(&au(&[35, 39, 21, 21])), Picture::Irap);
    }

    #[test]
    fn trailing_radl_and_non_vcl_are_not() {
        for t in [0, 1, 2, 3, 6, 7] {
            assert_eq!(classify(&au(&[t])), Picture::Other, "type {t}");
        }
        assert_eq!(classify(&au(&[35, 39])), Picture::Other);
        assert_eq!(classify(&[]), Picture::Other);
    }

    #[test]
    fn rasl_is_recognised() {
        assert_eq!(classify(&au(&[8])), Picture::Rasl);
        assert_eq!(classify(&au(&[35, 9, 9])), Picture::Rasl);
    }

    #[test]
    fn a_mixed_access_unit_is_not_a_keyframe() {
        // An IRAP slice next to a trailing slice: not a clean random-access point.
        assert_eq!(classify(&au(&[21, 1])), Picture::Other);
    }

    #[test]
    fn enhancement_layers_are_ignored() {
        let mut data = au(&[19]);
        // A trailing picture NAL in layer 1: nuh_layer_id's high bit is bit 0 of byte 0.
        let nal = [(1u8 << 1) | 1, 1, 0xaa];
        data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        data.extend_from_slice(&nal);
        assert_eq!(classify(&data), Picture::Irap);
    }

    #[test]
    fn malformed_lengths_never_make_a_keyframe() {
        let mut data = au(&[1]);
        data.extend_from_slice(&[0, 0, 1, 0, 21 << 1, 1]); // claims 256 bytes, has 2
        assert_eq!(classify(&data), Picture::Other);
        assert_eq!(classify(&[0, 0, 0, 9, 21 << 1, 1]), Picture::Other);
        // A truncated tail after a whole IRAP unit: the whole unit decides.
        let mut data = au(&[19]);
        data.extend_from_slice(&[0, 0]);
        assert_eq!(classify(&data), Picture::Irap);
    }
}
