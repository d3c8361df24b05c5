//! Response headers: the product header official clients check, and the security headers.

use hyper::header::{HeaderName, HeaderValue};
use rampart_config::Settings;

/// Headers added to every response; built once from the settings.
#[derive(Debug, Clone, Default)]
pub struct SecurityHeaders {
    always: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// `tls` says whether the responses travel over HTTPS (HSTS is meaningless otherwise).
    pub fn from_settings(settings: &Settings, tls: bool) -> Result<Self, String> {
        if !settings.get_bool("rampart.http.security_headers.enabled") {
            return Ok(SecurityHeaders::default());
        }
        let mut always = vec![(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        )];
        let mut add = |setting: &str, header: &'static str| -> Result<(), String> {
            let value = settings.get(setting).unwrap_or_default();
            if value.is_empty() {
                return Ok(());
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("[{setting}] is not a valid HTTP header value"))?;
            always.push((HeaderName::from_static(header), value));
            Ok(())
        };
        if tls {
            add(
                "rampart.http.security_headers.strict_transport_security",
                "strict-transport-security",
            )?;
        }
        add(
            "rampart.http.security_headers.content_security_policy",
            "content-security-policy",
        )?;
        add(
            "rampart.http.security_headers.frame_options",
            "x-frame-options",
        )?;
        add(
            "rampart.http.security_headers.referrer_policy",
            "referrer-policy",
        )?;
        Ok(SecurityHeaders { always })
    }

    pub(crate) fn apply(&self, headers: &mut hyper::HeaderMap) {
        for (name, value) in &self.always {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_include_hsts_only_over_tls_and_can_be_tuned() {
        let s = Settings::from_pairs(&[]).expect("settings");
        let mut h = hyper::HeaderMap::new();
        SecurityHeaders::from_settings(&s, true)
            .expect("ok")
            .apply(&mut h);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("strict-transport-security"));
        assert!(
            h["content-security-policy"]
                .to_str()
                .expect("ascii")
                .contains("default-src 'none'")
        );

        let mut plain = hyper::HeaderMap::new();
        SecurityHeaders::from_settings(&s, false)
            .expect("ok")
            .apply(&mut plain);
        assert!(!plain.contains_key("strict-transport-security"));

        let s = Settings::from_pairs(&[("rampart.http.security_headers.frame_options", "")])
            .expect("s");
        let mut h = hyper::HeaderMap::new();
        SecurityHeaders::from_settings(&s, true)
            .expect("ok")
            .apply(&mut h);
        assert!(!h.contains_key("x-frame-options"));
    }
}
