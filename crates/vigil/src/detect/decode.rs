//! H.264 to a small grey picture: OpenH264 (the `openh264` crate, built from its bundled source)
//! decodes the stream; the luma plane is averaged down to the analysis size. Packets arrive as
//! vigil keeps them (length-prefixed NAL units, parameter sets in the `avcC` record) and are
//! handed to the decoder in Annex B form.

use openh264::decoder::{Decoder, DecoderConfig};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use vigil_core::packet::{VideoCodec, VideoParams};

/// The analysis picture's width; its height keeps the stream's aspect.
pub const ANALYSIS_WIDTH: usize = 160;

/// A decoded frame's luma, as the decoder gave it.
pub struct Luma<'a> {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub y: &'a [u8],
}

impl Luma<'_> {
    /// Averaged down to `w`×`h` (each output pixel the mean of its block).
    pub fn downscale(&self, w: usize, h: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h);
        for oy in 0..h {
            let (y0, y1) = (
                oy * self.height / h,
                ((oy + 1) * self.height / h).max(oy * self.height / h + 1),
            );
            for ox in 0..w {
                let (x0, x1) = (
                    ox * self.width / w,
                    ((ox + 1) * self.width / w).max(ox * self.width / w + 1),
                );
                let mut sum = 0u32;
                for y in y0..y1.min(self.height) {
                    let row = &self.y[y * self.stride..];
                    sum += row[x0..x1.min(self.width)]
                        .iter()
                        .map(|&v| u32::from(v))
                        .sum::<u32>();
                }
                let n = ((y1.min(self.height) - y0) * (x1.min(self.width) - x0)).max(1) as u32;
                out.push((sum / n) as u8);
            }
        }
        out
    }
}

/// The analysis size for a `width`×`height` stream.
pub fn analysis_size(width: usize, height: usize) -> (usize, usize) {
    let w = ANALYSIS_WIDTH.min(width.max(1));
    let h = ((height * w) as f64 / width.max(1) as f64).round().max(1.0) as usize;
    (w, h)
}

/// Why a stream can't be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the detect stream is H.265, which vigil can't decode: point detect_url at the camera's H.264 sub-stream")]
    H265,
    #[error("the detect stream's H.264 parameters are unreadable: {0}")]
    BadConfig(String),
    #[error("the decoder could not start: {0}")]
    Start(String),
}

/// An H.264 decoder fed vigil's packets.
pub struct H264 {
    decoder: Decoder,
    /// SPS and PPS in Annex B form, put before every keyframe.
    headers: Vec<u8>,
    scratch: Vec<u8>,
}

const START: [u8; 4] = [0, 0, 0, 1];

/// The SPS and PPS of an `avcC` record, in Annex B form.
fn annexb_headers(avcc: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let bad = |why: &str| DecodeError::BadConfig(why.to_owned());
    if avcc.len() < 7 || avcc[0] != 1 {
        return Err(bad("not an avcC record"));
    }
    let mut out = Vec::new();
    let mut p = 5;
    let sps = usize::from(avcc[p] & 0x1f);
    p += 1;
    for _ in 0..sps {
        let len = usize::from(u16::from_be_bytes([
            *avcc.get(p).ok_or_else(|| bad("cut short"))?,
            *avcc.get(p + 1).ok_or_else(|| bad("cut short"))?,
        ]));
        let nal = avcc
            .get(p + 2..p + 2 + len)
            .ok_or_else(|| bad("an SPS runs past the end"))?;
        out.extend_from_slice(&START);
        out.extend_from_slice(nal);
        p += 2 + len;
    }
    let pps = usize::from(*avcc.get(p).ok_or_else(|| bad("no PPS count"))?);
    p += 1;
    for _ in 0..pps {
        let len = usize::from(u16::from_be_bytes([
            *avcc.get(p).ok_or_else(|| bad("cut short"))?,
            *avcc.get(p + 1).ok_or_else(|| bad("cut short"))?,
        ]));
        let nal = avcc
            .get(p + 2..p + 2 + len)
            .ok_or_else(|| bad("a PPS runs past the end"))?;
        out.extend_from_slice(&START);
        out.extend_from_slice(nal);
        p += 2 + len;
    }
    if sps == 0 || pps == 0 {
        return Err(bad("no SPS or no PPS"));
    }
    Ok(out)
}

/// Length-prefixed NAL units → Annex B, appended to `out`. `Err` when a length runs past the
/// end (a corrupt packet): what came before is kept.
fn to_annexb(data: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let mut p = 0;
    while p + 4 <= data.len() {
        let len = u32::from_be_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]) as usize;
        p += 4;
        if len == 0 || len > data.len() - p {
            return Err(());
        }
        out.extend_from_slice(&START);
        out.extend_from_slice(&data[p..p + len]);
        p += len;
    }
    if p == data.len() {
        Ok(())
    } else {
        Err(())
    }
}

impl H264 {
    pub fn new(params: &VideoParams) -> Result<H264, DecodeError> {
        if params.codec == VideoCodec::H265 {
            return Err(DecodeError::H265);
        }
        let headers = annexb_headers(&params.config)?;
        let cfg = DecoderConfig::new();
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), cfg)
            .map_err(|e| DecodeError::Start(e.to_string()))?;
        Ok(H264 {
            decoder,
            headers,
            scratch: Vec::new(),
        })
    }

    /// Decodes one packet; when it gave a picture, `Ok(Some(f(picture)))`. `Err` with the reason
    /// when the packet is corrupt (the caller skips to the next keyframe).
    pub fn decode<R>(
        &mut self,
        data: &[u8],
        keyframe: bool,
        f: impl FnOnce(&Luma<'_>, &dyn YUVSource) -> R,
    ) -> Result<Option<R>, String> {
        self.scratch.clear();
        if keyframe {
            self.scratch.extend_from_slice(&self.headers);
        }
        if to_annexb(data, &mut self.scratch).is_err() {
            return Err("a NAL unit's length runs past the packet".into());
        }
        match self.decoder.decode(&self.scratch) {
            Ok(Some(yuv)) => {
                let (width, height) = yuv.dimensions();
                let (stride, _, _) = yuv.strides();
                let luma = Luma {
                    width,
                    height,
                    stride,
                    y: yuv.y(),
                };
                Ok(Some(f(&luma, &yuv)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_units_become_annexb_and_bad_lengths_are_caught() {
        let mut out = Vec::new();
        to_annexb(&[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41], &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x41]);
        assert!(to_annexb(&[0, 0, 0, 9, 0x65], &mut Vec::new()).is_err());
        assert!(to_annexb(&[0, 0, 0, 1, 0x65, 0], &mut Vec::new()).is_err());
        assert!(to_annexb(&[0, 0, 0, 0], &mut Vec::new()).is_err());
    }

    #[test]
    fn avcc_headers_and_bad_records() {
        let avcc = [
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68,
        ];
        assert_eq!(
            annexb_headers(&avcc).unwrap(),
            [0, 0, 0, 1, 0x67, 0x64, 0, 0, 0, 1, 0x68]
        );
        assert!(annexb_headers(&avcc[..9]).is_err());
        assert!(annexb_headers(&[0; 7]).is_err());
    }

    #[test]
    fn downscaling_averages_blocks() {
        let y: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 0 } else { 200 }).collect();
        let l = Luma {
            width: 4,
            height: 4,
            stride: 4,
            y: &y,
        };
        assert_eq!(l.downscale(2, 2), [0, 200, 0, 200]);
        assert_eq!(l.downscale(1, 1), [100]);
        assert_eq!(analysis_size(640, 360), (160, 90));
        assert_eq!(analysis_size(100, 50), (100, 50));
    }
}
