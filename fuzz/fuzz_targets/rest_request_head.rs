//! The request head as a client controls it: method, target, Authorization, Content-Type and
//! Accept, parsed and routed as the server does before authentication.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(5, |b| *b == 0);
    let method = fields.next().unwrap_or_default();
    let target = fields.next().unwrap_or_default();
    let authorization = fields.next().unwrap_or_default();
    let content_type = fields.next().unwrap_or_default();
    let accept = fields.next().unwrap_or_default();
    rampart_rest::fuzzing::request_head(method, target, authorization, content_type, accept);
});
