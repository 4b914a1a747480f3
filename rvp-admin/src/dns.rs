//! `rvp-admin dns`: the DNS records an IM domain needs (the Exchange "DNS" page as zone-file
//! lines), from the server's configuration.
//!
//! Clients find the server of `alias@domain` through `_rvp._tcp.<domain>` SRV, then the
//! domain's own address on port 80 (PROTOCOL.md §7.1); other organisations' servers do the
//! same to deliver NOTIFYs. What is printed:
//!
//! * `_rvp._tcp.<domain>. SRV 0 0 <port> <host_name>.` — the server (a router, or the one
//!   server of a small domain) that answers for the domain;
//! * `<host_name>. A/AAAA <address>` — where it is, when an address is given or the
//!   configuration listens on a specific one;
//! * one `A` line per home server the configuration routes to (`[router.homes]`), so
//!   that the `Location` of a `302` resolves for clients;
//! * with a `[tls] listen` address, `_rvps._tcp.<domain>. SRV 0 0 <port> <domain>.`: other
//!   servers then deliver over TLS, checking the certificate against the domain
//!   (PROTOCOL.md §7.6).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use rvp_server::config::Config;

/// One zone-file line per record the domain needs, with comments saying why.
///
/// Clients look up `_rvp._tcp.<sign-in domain>` (the part after `@`), and librvp names its
/// users' URLs and `Host` after the SRV target: the target must therefore be the
/// configuration's `[server] domain` (the IM domain, the logical host of every
/// principal's URL). `sign_in_domain` defaults to that same name.
pub(crate) fn records(
    config: &Config,
    sign_in_domain: Option<&str>,
    address: Option<IpAddr>,
    ttl: u32,
) -> Vec<String> {
    let domain = config.server.domain.trim_end_matches('.');
    let host = config.server.host_name.trim_end_matches('.');
    let sign_in = sign_in_domain.map_or(domain, |d| d.trim_end_matches('.'));
    let mut lines = vec![format!(
        "; rvp-server for the IM domain {domain} (sign-in names alias@{sign_in}; role {:?})",
        config.server.role
    )];
    let listen: Option<&SocketAddr> = config.server.listen.first();
    let port = listen.map_or(80, SocketAddr::port);
    lines.push(format!(
        "; clients and other servers find the server of alias@{sign_in} here; the target is \
         the IM domain (librvp names URLs after it); port {port}{}",
        if port == 80 {
            ""
        } else {
            " (only librvp honours an SRV port: others need port 80)"
        }
    ));
    lines.push(format!(
        "_rvp._tcp.{sign_in}. {ttl} IN SRV 0 0 {port} {domain}."
    ));
    let ip = address.or_else(|| {
        listen
            .map(SocketAddr::ip)
            .filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
    });
    match ip {
        Some(ip) => lines.push(address_line(domain, ip, ttl)),
        None => lines.push(format!(
            "; {domain}. needs an A (or AAAA) record: the configuration listens on no public \
             address, give one with --address"
        )),
    }
    if host != domain {
        lines.push(format!(
            "; {host}. is this server's own name (physical URLs, the Location of referrals)"
        ));
        if let Some(ip) = ip {
            lines.push(address_line(host, ip, ttl));
        }
    }
    if let Some(tls) = config.tls.listen.first() {
        lines.push(format!(
            "; other servers deliver to {domain} over TLS on port {}: the certificate must be \
             valid for {domain} (they check it against the domain, not the SRV target)",
            tls.port()
        ));
        lines.push(format!(
            "_rvps._tcp.{domain}. {ttl} IN SRV 0 0 {} {domain}.",
            tls.port()
        ));
    }
    for (home, at) in &config.router.homes {
        let name = home.rsplit_once(':').map_or(home.as_str(), |(h, _)| h);
        lines.push(format!(
            "; home server {home}: named in the Location of the router's 302s"
        ));
        lines.push(address_line(name.trim_end_matches('.'), at.ip(), ttl));
    }
    lines
}

fn address_line(name: &str, ip: IpAddr, ttl: u32) -> String {
    let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
    format!("{name}. {ttl} IN {kind} {ip}")
}

/// Prints [`records`].
pub(crate) fn print(
    config: &Config,
    sign_in_domain: Option<&str>,
    address: Option<IpAddr>,
    ttl: u32,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for line in records(config, sign_in_domain, address, ttl) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_router_with_two_homes() {
        let config = Config::from_toml_str(
            "[server]\nlisten = [\"0.0.0.0:80\"]\ndomain = \"example.org\"\n\
             host_name = \"im.example.org\"\nrole = \"router\"\n\
             [router.homes]\n\"im1.example.org\" = \"192.0.2.11:80\"\n\
             \"im2.example.org:8080\" = \"2001:db8::12:8080\"\n",
            "test",
        );
        // An IPv6 socket address needs brackets in TOML strings too.
        assert!(config.is_err());
        let config = Config::from_toml_str(
            "[server]\nlisten = [\"0.0.0.0:80\"]\ndomain = \"im.example.org\"\n\
             host_name = \"router1.example.org\"\nrole = \"router\"\n\
             [router.homes]\n\"im1.example.org\" = \"192.0.2.11:80\"\n\
             \"im2.example.org:8080\" = \"[2001:db8::12]:8080\"\n",
            "test",
        )
        .unwrap();
        let lines = records(
            &config,
            Some("example.org"),
            Some("203.0.113.5".parse().unwrap()),
            3600,
        );
        let records: Vec<&String> = lines.iter().filter(|l| !l.starts_with(';')).collect();
        assert_eq!(
            records,
            [
                "_rvp._tcp.example.org. 3600 IN SRV 0 0 80 im.example.org.",
                "im.example.org. 3600 IN A 203.0.113.5",
                "router1.example.org. 3600 IN A 203.0.113.5",
                "im1.example.org. 3600 IN A 192.0.2.11",
                "im2.example.org. 3600 IN AAAA 2001:db8::12",
            ]
        );
    }

    #[test]
    fn the_demo_configuration_says_what_is_missing() {
        let config = Config::embedded_default().unwrap();
        let lines = records(&config, None, None, 300);
        assert!(lines.contains(&"_rvp._tcp.localhost. 300 IN SRV 0 0 8080 localhost.".into()));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("only librvp honours an SRV port"))
        );
        assert!(lines.iter().any(|l| l.contains("give one with --address")));
    }

    #[test]
    fn a_tls_listener_is_published_as_rvps() {
        let plain = Config::from_toml_str(
            "[server]\nlisten = [\"0.0.0.0:80\"]\ndomain = \"im.example.org\"\n",
            "test",
        )
        .unwrap();
        assert!(
            !records(&plain, None, None, 300)
                .iter()
                .any(|l| l.contains("_rvps"))
        );
        let dir = std::env::temp_dir().join(format!("rvp-admin-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert, "x").unwrap();
        std::fs::write(&key, "x").unwrap();
        let tls = Config::from_toml_str(
            &format!(
                "[server]\nlisten = [\"0.0.0.0:80\"]\ndomain = \"im.example.org\"\n\
                 [tls]\nlisten = [\"0.0.0.0:8443\"]\ncertificate = {cert:?}\nprivate_key = {key:?}\n"
            ),
            "test",
        );
        let _ = std::fs::remove_dir_all(&dir);
        let lines = records(&tls.unwrap(), None, None, 300);
        assert!(
            lines
                .contains(&"_rvps._tcp.im.example.org. 300 IN SRV 0 0 8443 im.example.org.".into()),
            "{lines:#?}"
        );
    }
}
