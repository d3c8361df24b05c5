//! A keystore file's header and its decrypted payload: parsed from arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_keystore::fuzzing::keystore_file(data);
});
