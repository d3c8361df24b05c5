//! An `_msearch` body as a client sends it: NDJSON header and search lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_rest::fuzzing::msearch_body(data);
});
