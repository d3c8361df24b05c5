//! rampart.yml text: YAML flattening, placeholders and every setting's validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_config::{Settings, Source};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let env = |name: &str| (name == "HOST").then(|| "fuzz.example".to_string());
        if let Ok(settings) = Settings::parse(text, Source::Default, &env) {
            for key in settings.keys() {
                let _ = settings.get_list(key);
            }
        }
    }
});
