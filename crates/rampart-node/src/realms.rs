//! The realm chain from `xpack.security.authc.realms.{type}.{name}.*`, as Elasticsearch 8
//! reads it: `order` is required, `enabled` defaults to true, and each realm has its own
//! credential cache (`cache.ttl`, `cache.max_users`, `cache.hash_algo`).

use std::collections::BTreeSet;
use std::time::Duration;

use rampart_config::{Settings, parse_time_value};
use rampart_security::{RealmConfig, RealmKind};

const PREFIX: &str = "xpack.security.authc.realms.";

pub fn realm_configs(settings: &Settings) -> Result<Vec<RealmConfig>, String> {
    let mut realms = BTreeSet::new();
    for key in settings.keys() {
        if let Some(rest) = key.strip_prefix(PREFIX) {
            let mut parts = rest.splitn(3, '.');
            if let (Some(realm_type), Some(name)) = (parts.next(), parts.next()) {
                realms.insert((realm_type.to_string(), name.to_string()));
            }
        }
    }
    let mut configs = Vec::new();
    for (realm_type, name) in realms {
        let base = format!("{PREFIX}{realm_type}.{name}");
        let kind = match realm_type.as_str() {
            "file" => RealmKind::File,
            "native" => RealmKind::Native,
            other => {
                return Err(format!(
                    "[{base}]: realm type [{other}] is not supported: Rampart's realms are file \
                     and native"
                ));
            }
        };
        let get = |setting: &str| {
            settings
                .get(&format!("{base}.{setting}"))
                .unwrap_or_default()
        };
        let order_text = settings
            .get(&format!("{base}.order"))
            .ok_or_else(|| format!("[{base}.order] is required: give each realm an order"))?;
        let order: i64 = order_text
            .trim()
            .parse()
            .map_err(|_| format!("[{base}.order] must be a whole number, got [{order_text}]"))?;
        let ttl_text = get("cache.ttl");
        let cache_ttl = if ttl_text.trim() == "0" || ttl_text.trim() == "-1" {
            Duration::ZERO
        } else {
            parse_time_value(&ttl_text).map_err(|e| format!("[{base}.cache.ttl]: {e}"))?
        };
        let cache_max_users = get("cache.max_users")
            .parse()
            .map_err(|_| format!("[{base}.cache.max_users] must be a whole number"))?;
        let hash_algo = get("cache.hash_algo");
        if !matches!(hash_algo.as_str(), "ssha256" | "sha256") {
            return Err(format!(
                "[{base}.cache.hash_algo: {hash_algo}] is not supported: Rampart's credential \
                 cache always keeps a keyed SHA-256 (HMAC) of verified credentials, so cached \
                 requests never pay a slow hash; use ssha256 (the default)"
            ));
        }
        configs.push(RealmConfig {
            kind,
            name,
            order,
            enabled: settings.get_bool(&format!("{base}.enabled")),
            cache_ttl,
            cache_max_users,
        });
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("rampart.yml");
        std::fs::write(&file, yaml).expect("yml");
        Settings::load(&file, &[], &|_| None).expect("settings")
    }

    #[test]
    fn realms_are_read_with_their_caches() {
        let configs = realm_configs(&settings(
            "xpack.security.authc.realms:\n  native.people:\n    order: 2\n    cache.ttl: 0\n  file.ops:\n    order: 1\n    enabled: false\n",
        ))
        .expect("valid");
        assert_eq!(configs.len(), 2);
        let people = configs.iter().find(|c| c.name == "people").expect("people");
        assert_eq!(people.kind, RealmKind::Native);
        assert_eq!(people.order, 2);
        assert_eq!(people.cache_ttl, Duration::ZERO);
        assert!(
            !configs
                .iter()
                .find(|c| c.name == "ops")
                .expect("ops")
                .enabled
        );
        for (yaml, needle) in [
            (
                "xpack.security.authc.realms.ldap.corp.order: 0\n",
                "not supported",
            ),
            (
                "xpack.security.authc.realms.native.n.enabled: true\n",
                "order] is required",
            ),
            (
                "xpack.security.authc.realms.native.n.order: first\n",
                "whole number",
            ),
            (
                "xpack.security.authc.realms.native.n.order: 0\nxpack.security.authc.realms.native.n.cache.hash_algo: bcrypt\n",
                "not supported",
            ),
        ] {
            let e = realm_configs(&settings(yaml)).expect_err(yaml);
            assert!(e.contains(needle), "{e}");
        }
    }
}
