//! A `_bulk` body as a client sends it: NDJSON action and source lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_rest::fuzzing::bulk_body(data);
});
