//! Fuzzes the SOAP/event parsers: any bytes a camera could send must not panic.
//! Run: `cargo fuzz run onvif_parse fuzz/corpus/onvif_parse` (seed corpus: the real samples).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigil_onvif::fuzzing::parse_everything(data);
});
