//! The initialization segment: `ftyp` + `moov` (with `mvex`), built once per clip.

use bytes::BufMut;

use super::boxes::{begin_box, begin_full_box, descriptor_size, end_box, put_descriptor_header};
use super::moov::{Field, MoovInfo, TrackInfo};
use super::Fmp4Error;
use crate::packet::{
    AudioParams, StreamParams, TrackKind, VideoCodec, VideoParams, VIDEO_TIMESCALE,
};

pub(super) const VIDEO_TRACK_ID: u32 = 1;
pub(super) const AUDIO_TRACK_ID: u32 = 2;
pub(super) const MOVIE_TIMESCALE: u32 = 1000;

/// `und` in ISO 639-2/T packed as three 5-bit letters.
const LANGUAGE_UND: u16 = 0x55c4;
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The bytes of `ftyp` + `moov`, and where their duration fields are (offsets in these bytes,
/// which are also file offsets: the init segment starts the file).
pub(super) struct Init {
    pub bytes: Vec<u8>,
    pub info: MoovInfo,
}

fn check(params: &StreamParams) -> Result<(), Fmp4Error> {
    let bad = |m: &str| Err(Fmp4Error::InvalidParams(m.to_string()));
    if params.video.config.is_empty() {
        return bad("video decoder configuration (avcC/hvcC) is empty");
    }
    if let Some(a) = &params.audio {
        if a.sample_rate == 0 || a.channels == 0 {
            return bad("audio sample rate and channel count must be non-zero");
        }
        if a.config.is_empty() || a.config.len() > 0xffff {
            return bad("AudioSpecificConfig must be 1..=65535 bytes");
        }
    }
    Ok(())
}

pub(super) fn build(params: &StreamParams) -> Result<Init, Fmp4Error> {
    build_with(params, true)
}

/// The init segment of an endless stream: no `mehd` (a player would take its 0 for the length).
pub(super) fn build_live(params: &StreamParams) -> Result<Init, Fmp4Error> {
    build_with(params, false)
}

fn build_with(params: &StreamParams, with_mehd: bool) -> Result<Init, Fmp4Error> {
    check(params)?;
    let mut b = Vec::with_capacity(1024 + params.video.config.len());

    let ftyp = begin_box(&mut b, b"ftyp");
    b.put_slice(b"isom");
    b.put_u32(0x200);
    for brand in [b"isom", b"iso5", b"iso6", b"mp41"] {
        b.put_slice(brand);
    }
    if params.video.codec == VideoCodec::H264 {
        b.put_slice(b"avc1");
    }
    end_box(&mut b, ftyp);

    let moov = begin_box(&mut b, b"moov");
    let mvhd = begin_full_box(&mut b, b"mvhd", 1, 0);
    b.put_u64(0); // creation_time
    b.put_u64(0); // modification_time
    b.put_u32(MOVIE_TIMESCALE);
    let mvhd_field = Field {
        offset: b.len() as u64,
        wide: true,
    };
    b.put_u64(0); // duration, patched at finish
    b.put_u32(0x0001_0000); // rate 1.0
    b.put_u16(0x0100); // volume 1.0
    b.put_u16(0);
    b.put_u64(0);
    for m in UNITY_MATRIX {
        b.put_u32(m);
    }
    b.put_bytes(0, 24); // pre_defined
    b.put_u32(if params.audio.is_some() { 3 } else { 2 }); // next_track_ID
    end_box(&mut b, mvhd);

    let mut tracks = vec![video_trak(&mut b, &params.video)];
    if let Some(a) = &params.audio {
        tracks.push(audio_trak(&mut b, a));
    }

    let mvex = begin_box(&mut b, b"mvex");
    let mehd_field = with_mehd.then(|| {
        let mehd = begin_full_box(&mut b, b"mehd", 1, 0);
        let field = Field {
            offset: b.len() as u64,
            wide: true,
        };
        b.put_u64(0);
        end_box(&mut b, mehd);
        field
    });
    for t in &tracks {
        let trex = begin_full_box(&mut b, b"trex", 0, 0);
        b.put_u32(t.id);
        b.put_u32(1); // default_sample_description_index
        b.put_u32(0); // default_sample_duration
        b.put_u32(0); // default_sample_size
        b.put_u32(0); // default_sample_flags
        end_box(&mut b, trex);
    }
    end_box(&mut b, mvex);
    end_box(&mut b, moov);

    Ok(Init {
        bytes: b,
        info: MoovInfo {
            movie_timescale: MOVIE_TIMESCALE,
            mvhd: mvhd_field,
            mehd: mehd_field,
            tracks,
        },
    })
}

/// Writes `trak` up to and including `stsd`'s entry (written by `entry`), then the empty tables.
fn trak(
    b: &mut Vec<u8>,
    kind: TrackKind,
    id: u32,
    timescale: u32,
    (width, height): (u16, u16),
    entry: impl FnOnce(&mut Vec<u8>),
) -> TrackInfo {
    let trak = begin_box(b, b"trak");
    let tkhd = begin_full_box(b, b"tkhd", 1, 0x000003); // enabled | in_movie
    b.put_u64(0);
    b.put_u64(0);
    b.put_u32(id);
    b.put_u32(0);
    let tkhd_field = Field {
        offset: b.len() as u64,
        wide: true,
    };
    b.put_u64(0); // duration, patched at finish
    b.put_u64(0);
    b.put_u16(0); // layer
    let audio = kind == TrackKind::Audio;
    b.put_u16(u16::from(audio)); // alternate_group
    b.put_u16(if audio { 0x0100 } else { 0 }); // volume
    b.put_u16(0);
    for m in UNITY_MATRIX {
        b.put_u32(m);
    }
    b.put_u32(u32::from(width) << 16);
    b.put_u32(u32::from(height) << 16);
    end_box(b, tkhd);

    let mdia = begin_box(b, b"mdia");
    let mdhd = begin_full_box(b, b"mdhd", 1, 0);
    b.put_u64(0);
    b.put_u64(0);
    b.put_u32(timescale);
    let mdhd_field = Field {
        offset: b.len() as u64,
        wide: true,
    };
    b.put_u64(0);
    b.put_u16(LANGUAGE_UND);
    b.put_u16(0);
    end_box(b, mdhd);

    let hdlr = begin_full_box(b, b"hdlr", 0, 0);
    b.put_u32(0);
    b.put_slice(if audio { b"soun" } else { b"vide" });
    b.put_bytes(0, 12);
    b.put_slice(if audio {
        b"SoundHandler\0"
    } else {
        b"VideoHandler\0"
    });
    end_box(b, hdlr);

    let minf = begin_box(b, b"minf");
    if audio {
        let smhd = begin_full_box(b, b"smhd", 0, 0);
        b.put_u32(0); // balance, reserved
        end_box(b, smhd);
    } else {
        let vmhd = begin_full_box(b, b"vmhd", 0, 1);
        b.put_bytes(0, 8); // graphicsmode, opcolor
        end_box(b, vmhd);
    }
    let dinf = begin_box(b, b"dinf");
    let dref = begin_full_box(b, b"dref", 0, 0);
    b.put_u32(1);
    let url = begin_full_box(b, b"url ", 0, 1); // self-contained
    end_box(b, url);
    end_box(b, dref);
    end_box(b, dinf);

    let stbl = begin_box(b, b"stbl");
    let stsd = begin_full_box(b, b"stsd", 0, 0);
    b.put_u32(1);
    entry(b);
    end_box(b, stsd);
    for kind in [b"stts", b"stsc", b"stco"] {
        let t = begin_full_box(b, kind, 0, 0);
        b.put_u32(0);
        end_box(b, t);
    }
    let stsz = begin_full_box(b, b"stsz", 0, 0);
    b.put_u32(0); // sample_size
    b.put_u32(0); // sample_count
    end_box(b, stsz);
    end_box(b, stbl);
    end_box(b, minf);
    end_box(b, mdia);
    end_box(b, trak);

    TrackInfo {
        id,
        kind: Some(kind),
        timescale,
        tkhd: tkhd_field,
        mdhd: mdhd_field,
    }
}

fn video_trak(b: &mut Vec<u8>, v: &VideoParams) -> TrackInfo {
    let size = (v.width, v.height);
    trak(
        b,
        TrackKind::Video,
        VIDEO_TRACK_ID,
        VIDEO_TIMESCALE,
        size,
        |b| {
            let (entry_kind, config_kind) = match v.codec {
                VideoCodec::H264 => (b"avc1", b"avcC"),
                VideoCodec::H265 => (b"hvc1", b"hvcC"),
            };
            let entry = begin_box(b, entry_kind);
            b.put_bytes(0, 6);
            b.put_u16(1); // data_reference_index
            b.put_bytes(0, 16); // pre_defined, reserved
            b.put_u16(v.width);
            b.put_u16(v.height);
            b.put_u32(0x0048_0000); // 72 dpi
            b.put_u32(0x0048_0000);
            b.put_u32(0);
            b.put_u16(1); // frame_count
            b.put_bytes(0, 32); // compressorname
            b.put_u16(0x0018); // depth
            b.put_i16(-1);
            let config = begin_box(b, config_kind);
            b.put_slice(&v.config);
            end_box(b, config);
            end_box(b, entry);
        },
    )
}

fn audio_trak(b: &mut Vec<u8>, a: &AudioParams) -> TrackInfo {
    trak(
        b,
        TrackKind::Audio,
        AUDIO_TRACK_ID,
        a.sample_rate,
        (0, 0),
        |b| {
            let entry = begin_box(b, b"mp4a");
            b.put_bytes(0, 6);
            b.put_u16(1); // data_reference_index
            b.put_bytes(0, 8);
            b.put_u16(a.channels);
            b.put_u16(16); // samplesize
            b.put_u32(0); // pre_defined, reserved
                          // 16.16 fixed point; rates above 65535 Hz don't fit and are given by the config instead.
            b.put_u32(u16::try_from(a.sample_rate).map_or(0, |r| u32::from(r) << 16));
            put_esds(b, &a.config);
            end_box(b, entry);
        },
    )
}

/// `esds`: ES_Descriptor { DecoderConfigDescriptor { DecoderSpecificInfo }, SLConfigDescriptor }.
fn put_esds(b: &mut Vec<u8>, asc: &[u8]) {
    let dsi = asc.len();
    let dcd = 13 + descriptor_size(dsi);
    let es = 3 + descriptor_size(dcd) + descriptor_size(1);
    let esds = begin_full_box(b, b"esds", 0, 0);
    put_descriptor_header(b, 0x03, es);
    b.put_u16(0); // ES_ID (0 in a file: the track id is used)
    b.put_u8(0); // no dependence, URL or OCR stream
    put_descriptor_header(b, 0x04, dcd);
    b.put_u8(0x40); // objectTypeIndication: MPEG-4 Audio
    b.put_u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
    b.put_uint(0, 3); // bufferSizeDB
    b.put_u32(0); // maxBitrate
    b.put_u32(0); // avgBitrate
    put_descriptor_header(b, 0x05, dsi);
    b.put_slice(asc);
    put_descriptor_header(b, 0x06, 1);
    b.put_u8(0x02); // predefined: reserved for MP4 files
    end_box(b, esds);
}

#[cfg(test)]
mod tests {
    use super::super::boxes::{boxes, find, Cursor};
    use super::*;
    use bytes::Bytes;

    pub(crate) fn params(audio: bool) -> StreamParams {
        StreamParams {
            video: VideoParams {
                codec: VideoCodec::H264,
                width: 640,
                height: 360,
                config: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]),
            },
            audio: audio.then(|| AudioParams {
                sample_rate: 48_000,
                channels: 1,
                config: Bytes::from_static(&[0x11, 0x88]),
            }),
        }
    }

    /// Every container's size equals the sum of its children: walk the whole tree.
    fn walk(data: &[u8], depth: usize) -> usize {
        let mut n = 0;
        for b in boxes(data) {
            let b = b.unwrap();
            n += 1;
            let body = match &b.kind {
                b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" => b.body,
                b"dref" | b"stsd" => &b.body[8..],
                b"avc1" => &b.body[78..],
                b"mp4a" => &b.body[28..],
                _ => continue,
            };
            assert!(depth < 10);
            n += walk(body, depth + 1);
        }
        n
    }

    #[test]
    fn init_segment_is_a_consistent_box_tree() {
        let init = build(&params(true)).unwrap();
        let top: Vec<_> = boxes(&init.bytes).map(|b| b.unwrap().kind).collect();
        assert_eq!(top, vec![*b"ftyp", *b"moov"]);
        // ftyp, moov, mvhd, 2 x trak(16 + sample entry subtree), mvex(mehd, 2 trex)
        let count = walk(&init.bytes, 0);
        assert_eq!(count, 2 + 1 + 2 * 17 + 4 + 2, "box count");
    }

    #[test]
    fn recorded_duration_fields_match_a_fresh_parse() {
        for audio in [false, true] {
            let init = build(&params(audio)).unwrap();
            let moov = find(&init.bytes, b"moov").unwrap().unwrap();
            let parsed = MoovInfo::parse(moov.body, moov.offset as u64 + 8).unwrap();
            assert_eq!(parsed, init.info);
            assert_eq!(parsed.tracks.len(), 1 + usize::from(audio));
        }
    }

    #[test]
    fn esds_carries_the_audio_specific_config() {
        let mut b = Vec::new();
        put_esds(&mut b, &[0x11, 0x88]);
        let esds = find(&b, b"esds").unwrap().unwrap();
        let mut c = Cursor::new(esds.body, "esds");
        c.version_flags().unwrap();
        let (tag, es) = c.descriptor().unwrap();
        assert_eq!((tag, c.remaining()), (3, 0));
        let mut c = Cursor::new(&es[3..], "es");
        let (tag, dcd) = c.descriptor().unwrap();
        assert_eq!((tag, dcd[0], dcd[1]), (4, 0x40, 0x15));
        let (tag, sl) = c.descriptor().unwrap();
        assert_eq!((tag, sl), (6, &[2u8][..]));
        let (tag, dsi) = Cursor::new(&dcd[13..], "dcd").descriptor().unwrap();
        assert_eq!((tag, dsi), (5, &[0x11, 0x88][..]));
        // 12 header+version, 2 ES hdr, 3, 2 DCD hdr, 13, 2 DSI hdr, 2, 2 SL hdr, 1
        assert_eq!(esds.size, 12 + 2 + 3 + 2 + 13 + 2 + 2 + 2 + 1);
    }

    #[test]
    fn empty_configs_are_refused() {
        let mut p = params(true);
        p.video.config = Bytes::new();
        assert!(matches!(build(&p), Err(Fmp4Error::InvalidParams(_))));
        let mut p = params(true);
        if let Some(a) = p.audio.as_mut() {
            a.sample_rate = 0;
        }
        assert!(matches!(build(&p), Err(Fmp4Error::InvalidParams(_))));
    }
}
