//! Host resolution (`network.host`, `http.host`, `transport.host`) and binding with port ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use rampart_config::{Settings, parse_port_range};

/// The addresses a layer binds: `{layer}.host`, else `network.host`, else `_local_`.
pub fn bind_addresses(settings: &Settings, layer: &str) -> Result<Vec<IpAddr>, String> {
    let key = format!("{layer}.host");
    let (setting, hosts) = if settings.is_set(&key) {
        (key.clone(), settings.get_list(&key))
    } else {
        (
            "network.host".to_string(),
            settings.get_list("network.host"),
        )
    };
    let mut out = Vec::new();
    for host in hosts {
        for ip in resolve_host(&host).map_err(|e| format!("[{setting}] = [{host}]: {e}"))? {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("[{setting}] names no address to bind"));
    }
    Ok(out)
}

fn resolve_host(host: &str) -> Result<Vec<IpAddr>, String> {
    match host {
        "_local_" => Ok(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        "_local:ipv4_" => Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        "_local:ipv6_" => Ok(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]),
        special if special.starts_with('_') && special.ends_with('_') => Err(format!(
            "the special value [{special}] is not supported yet: give an IP address, a host name, \
             _local_, or 0.0.0.0 for every interface"
        )),
        _ => {
            if let Ok(ip) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                return Ok(vec![ip]);
            }
            let mut ips: Vec<IpAddr> = (host, 0)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve host name: {e}"))?
                .map(|a| a.ip())
                .collect();
            ips.dedup();
            Ok(ips)
        }
    }
}

pub fn is_loopback_only(addrs: &[IpAddr]) -> bool {
    addrs.iter().all(IpAddr::is_loopback)
}

/// Binds every address on the first port of `port_setting`'s range that is free on all of them.
pub fn bind_range(
    settings: &Settings,
    port_setting: &str,
    addrs: &[IpAddr],
) -> Result<Vec<std::net::TcpListener>, String> {
    let raw = settings.get(port_setting).unwrap_or_default();
    let (low, high) = parse_port_range(&raw).map_err(|e| format!("[{port_setting}]: {e}"))?;
    let mut last_error = String::new();
    for port in low..=high {
        match bind_all(addrs, port) {
            Ok(listeners) => return Ok(listeners),
            Err(e) => last_error = e,
        }
    }
    Err(format!(
        "cannot bind {} on any port of [{port_setting}] = [{raw}]: {last_error}; free a port or \
         choose another range",
        addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Binds all addresses on one port; port 0 takes the ephemeral port of the first address.
fn bind_all(addrs: &[IpAddr], port: u16) -> Result<Vec<std::net::TcpListener>, String> {
    let mut listeners = Vec::new();
    let mut port = port;
    for ip in addrs {
        let addr = SocketAddr::new(*ip, port);
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => {
                if port == 0 {
                    port = listener.local_addr().map_err(|e| e.to_string())?.port();
                }
                listeners.push(listener);
            }
            // No IPv6 on this host: `_local_` still serves over IPv4.
            Err(e)
                if ip.is_ipv6()
                    && ip.is_loopback()
                    && e.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                tracing::debug!("skipping {addr}: {e}");
            }
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_resolves_to_loopback_and_specific_hosts_win() {
        let s = Settings::from_pairs(&[]).expect("s");
        let addrs = bind_addresses(&s, "http").expect("addrs");
        assert!(is_loopback_only(&addrs));
        let s = Settings::from_pairs(&[("network.host", "0.0.0.0"), ("http.host", "127.0.0.1")])
            .expect("s");
        assert_eq!(
            bind_addresses(&s, "http").expect("http"),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
        assert!(!is_loopback_only(
            &bind_addresses(&s, "transport").expect("transport")
        ));
        let s = Settings::from_pairs(&[("network.host", "_site_")]).expect("s");
        assert!(
            bind_addresses(&s, "http")
                .expect_err("unsupported")
                .contains("_site_")
        );
    }

    #[test]
    fn a_taken_port_moves_to_the_next_in_range() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let range = format!("{port}-{}", port.saturating_add(20));
        let s = Settings::from_pairs(&[("http.port", &range)]).expect("s");
        let listeners =
            bind_range(&s, "http.port", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).expect("bind");
        assert_ne!(listeners[0].local_addr().expect("a").port(), port);
        let s = Settings::from_pairs(&[("http.port", &port.to_string())]).expect("s");
        let err =
            bind_range(&s, "http.port", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).expect_err("taken");
        assert!(err.contains("http.port"), "{err}");
    }
}
