//! The stable stand-in for the cargo-fuzz target (`fuzz/`): the same entry point over random
//! bytes and over randomly damaged real samples. It checks only that nothing panics.

use proptest::prelude::*;
use vigil_onvif::fuzzing::parse_everything;

fn samples() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    v.sort();
    v
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let junk = prop_oneof![
        Just(b"<".to_vec()),
        Just(b">".to_vec()),
        Just(b"&".to_vec()),
        Just(b"&#x0;".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"xmlns:tns1=\"\"".to_vec()),
        Just(b"</wsnt:Topic>".to_vec()),
        Just(b"<wsnt:NotificationMessage>".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), junk).prop_map(|(i, j)| Edit::Insert(i, j)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = v.len().max(1);
        match e {
            Edit::Replace(i, b) => {
                if !v.is_empty() {
                    let i = i % v.len();
                    v[i] = *b;
                }
            }
            Edit::Delete(i, n) => {
                let i = i % len;
                let end = (i + n).min(v.len());
                if i < end {
                    v.drain(i..end);
                }
            }
            Edit::Insert(i, j) => {
                let i = i % (v.len() + 1);
                v.splice(i..i, j.iter().copied());
            }
            Edit::Truncate(i) => v.truncate(i % len),
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        parse_everything(&data);
    }

    #[test]
    fn damaged_samples_never_panic(which in 0usize..30, edits in proptest::collection::vec(edit(), 1..8)) {
        let all = samples();
        let data = apply(all[which % all.len()].clone(), &edits);
        parse_everything(&data);
    }
}

#[test]
fn pathological_inputs() {
    for data in [
        "<a>".repeat(10_000),
        "<a x=\"1\"/>".repeat(20_000),
        format!("<wsnt:Topic>{}</wsnt:Topic>", "a/".repeat(50_000)),
        format!("<t Dialect=\"{}\"/>", "xmlns:a=b ".repeat(10_000)),
        "&#xFFFFFFFF;&#0;&bogus;".to_string(),
        String::new(),
    ] {
        parse_everything(data.as_bytes());
    }
}
