//! Bootstrap checks, as Elasticsearch runs them: enforced in production mode (the transport
//! binds a non-loopback address and `discovery.type` is not `single-node`), warnings otherwise.
//! Running as root is refused in every mode.

use rampart_config::Settings;

/// The deliberately awkward override for running as root (CI containers run as root).
pub const ALLOW_ROOT_ENV: &str = "RAMPART_ALLOW_ROOT";
pub const ALLOW_ROOT_VALUE: &str = "I-understand-running-as-root-is-unsafe";

pub const MIN_FILE_DESCRIPTORS: u64 = 65535;
pub const MIN_MAX_MAP_COUNT: u64 = 262_144;
pub const MIN_THREADS: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// Why the node runs in the mode it does, for the start log.
pub fn mode(transport_loopback_only: bool, settings: &Settings) -> (Mode, String) {
    if settings.get("discovery.type").as_deref() == Some("single-node") {
        return (
            Mode::Development,
            "discovery.type is single-node, so bootstrap checks are warnings".to_string(),
        );
    }
    if transport_loopback_only {
        (
            Mode::Development,
            "the transport binds only loopback addresses, so bootstrap checks are warnings"
                .to_string(),
        )
    } else {
        (
            Mode::Production,
            "the transport binds a non-loopback address, so bootstrap checks are enforced"
                .to_string(),
        )
    }
}

/// Refuses root unless the override is set to its exact value.
pub fn check_not_root(euid_is_root: bool, override_value: Option<&str>) -> Result<bool, String> {
    if !euid_is_root {
        return Ok(false);
    }
    if override_value == Some(ALLOW_ROOT_VALUE) {
        return Ok(true);
    }
    Err(format!(
        "Rampart refuses to run as root: a compromised node must not own the machine. Start it as \
         an unprivileged user (e.g. `useradd --system rampart` and `sudo -u rampart rampart start`). \
         Test harnesses that can only run as root may set {ALLOW_ROOT_ENV}={ALLOW_ROOT_VALUE}."
    ))
}

/// What the checks look at, read from the system once.
#[derive(Debug, Clone)]
pub struct SystemFacts {
    pub max_file_descriptors: Option<u64>,
    pub max_map_count: Option<u64>,
    pub max_threads: Option<u64>,
}

impl SystemFacts {
    pub fn read() -> SystemFacts {
        let limit = |resource| {
            rustix::process::getrlimit(resource)
                .current
                .or(Some(u64::MAX))
        };
        SystemFacts {
            max_file_descriptors: limit(rustix::process::Resource::Nofile),
            max_map_count: std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            max_threads: limit(rustix::process::Resource::Nproc),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: &'static str,
    pub message: String,
}

pub fn run_checks(settings: &Settings, facts: &SystemFacts) -> Vec<Failure> {
    let mut failures = Vec::new();
    let security = settings.get_bool("xpack.security.enabled");
    if security && !settings.get_bool("xpack.security.transport.ssl.enabled") {
        failures.push(Failure {
            check: "transport TLS",
            message: "Transport TLS must be enabled when security is enabled: set \
                      [xpack.security.transport.ssl.enabled] to [true] with a certificate \
                      (see `rampart certutil`), or disable security with [xpack.security.enabled: false]"
                .to_string(),
        });
    }
    if let Some(n) = facts.max_file_descriptors
        && n < MIN_FILE_DESCRIPTORS
    {
        failures.push(Failure {
            check: "file descriptors",
            message: format!(
                "max file descriptors [{n}] for the Rampart process is too low, increase to at least \
                 [{MIN_FILE_DESCRIPTORS}] (`ulimit -n {MIN_FILE_DESCRIPTORS}`, or LimitNOFILE in the systemd unit)"
            ),
        });
    }
    if let Some(n) = facts.max_map_count
        && n < MIN_MAX_MAP_COUNT
    {
        failures.push(Failure {
            check: "max map count",
            message: format!(
                "max virtual memory areas vm.max_map_count [{n}] is too low, increase to at least \
                 [{MIN_MAX_MAP_COUNT}] (`sysctl -w vm.max_map_count={MIN_MAX_MAP_COUNT}`)"
            ),
        });
    }
    if let Some(n) = facts.max_threads
        && n < MIN_THREADS
    {
        failures.push(Failure {
            check: "max threads",
            message: format!(
                "max number of threads [{n}] for the Rampart user is too low, increase to at least \
                 [{MIN_THREADS}] (`ulimit -u {MIN_THREADS}`, or LimitNPROC in the systemd unit)"
            ),
        });
    }
    if settings.get_list("discovery.seed_hosts").is_empty()
        && settings.get_list("cluster.initial_master_nodes").is_empty()
        && settings.get("discovery.type").as_deref() != Some("single-node")
    {
        failures.push(Failure {
            check: "discovery configuration",
            message:
                "the default discovery settings are unsuitable for production use; configure at \
                      least one of [discovery.seed_hosts, cluster.initial_master_nodes]"
                    .to_string(),
        });
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_facts() -> SystemFacts {
        SystemFacts {
            max_file_descriptors: Some(1 << 20),
            max_map_count: Some(1 << 20),
            max_threads: Some(1 << 20),
        }
    }

    #[test]
    fn root_is_refused_unless_the_exact_override_is_given() {
        assert_eq!(check_not_root(false, None), Ok(false));
        let err = check_not_root(true, None).expect_err("root");
        assert!(err.contains(ALLOW_ROOT_ENV), "{err}");
        assert!(check_not_root(true, Some("yes")).is_err());
        assert_eq!(check_not_root(true, Some(ALLOW_ROOT_VALUE)), Ok(true));
    }

    #[test]
    fn production_mode_follows_transport_binding_and_discovery_type() {
        let multi = Settings::from_pairs(&[]).expect("s");
        assert_eq!(mode(true, &multi).0, Mode::Development);
        assert_eq!(mode(false, &multi).0, Mode::Production);
        let single = Settings::from_pairs(&[("discovery.type", "single-node")]).expect("s");
        assert_eq!(mode(false, &single).0, Mode::Development);
    }

    #[test]
    fn each_check_fails_on_its_own_condition() {
        let secure = Settings::from_pairs(&[
            ("xpack.security.transport.ssl.enabled", "true"),
            ("discovery.seed_hosts", "10.0.0.2"),
        ])
        .expect("s");
        assert!(run_checks(&secure, &good_facts()).is_empty());

        let no_tls = Settings::from_pairs(&[("discovery.seed_hosts", "10.0.0.2")]).expect("s");
        let failures = run_checks(&no_tls, &good_facts());
        assert_eq!(
            failures.iter().map(|f| f.check).collect::<Vec<_>>(),
            ["transport TLS"]
        );

        let low = SystemFacts {
            max_file_descriptors: Some(1024),
            max_map_count: Some(65530),
            max_threads: Some(100),
        };
        let checks: Vec<_> = run_checks(&secure, &low).iter().map(|f| f.check).collect();
        assert_eq!(checks, ["file descriptors", "max map count", "max threads"]);

        let no_discovery =
            Settings::from_pairs(&[("xpack.security.transport.ssl.enabled", "true")]).expect("s");
        assert_eq!(
            run_checks(&no_discovery, &good_facts())
                .iter()
                .map(|f| f.check)
                .collect::<Vec<_>>(),
            ["discovery configuration"]
        );
    }
}
