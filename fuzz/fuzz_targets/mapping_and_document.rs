//! A mapping and a document, both from the client (split at the first NUL byte): the mapping
//! parses or is refused; a document either fails or yields values, and any mapping it grows
//! must render to JSON that parses back to the same mapping and take the same document
//! without growing again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_engine::mapping::{MappingLimits, Mappings};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let mapping = parts.next().unwrap_or_default();
    let document = parts.next().unwrap_or_default();
    let Ok(mapping) = serde_json::from_slice::<serde_json::Value>(mapping) else {
        return;
    };
    let Ok(mappings) = Mappings::parse(&mapping) else {
        return;
    };
    let rendered = mappings.to_json();
    let reparsed = Mappings::parse(&rendered).expect("a rendered mapping parses");
    assert_eq!(reparsed.to_json(), rendered, "rendering is stable");
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(document) else {
        return;
    };
    let limits = MappingLimits::default();
    if let Ok((_, Some(grown))) = mappings.parse_document("fuzz", &document, limits) {
        let again = Mappings::parse(&grown.to_json()).expect("a grown mapping parses");
        let (_, more) = again
            .parse_document("fuzz", &document, limits)
            .expect("the document that grew the mapping fits it");
        assert!(more.is_none(), "the mapping grew twice for one document");
    }
});
