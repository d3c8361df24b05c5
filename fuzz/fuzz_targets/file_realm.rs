//! config/users and config/users_roles: parsed from arbitrary text, split at the first NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (users, roles) = text.split_once('\0').unwrap_or((text, ""));
        let (parsed, _) = rampart_security::file_realm::FileUsers::parse(users, roles);
        let _ = parsed.render_users();
        let _ = parsed.render_users_roles();
    }
});
