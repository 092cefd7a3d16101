//! Where a delivery may go: never to a private, loopback, link-local or otherwise internal
//! address (server-side request forgery) unless `--webhooks-allow-private`. A host name is
//! resolved by [`GuardedResolver`], which hands the HTTP client only the addresses that pass,
//! so the address connected to is one that was checked; a literal IP is checked before the
//! request, and the connected peer once more after it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 of any IPv4
}

/// Why a URL or address may not be delivered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{0} is a private, loopback or link-local address (allowed only with --webhooks-allow-private)"
    )]
    Private(IpAddr),
    #[error("{0} resolves to no public address (allowed only with --webhooks-allow-private)")]
    NoPublicAddress(String),
}

/// What a URL's host says before any lookup: a literal IP that is not public, or `localhost`,
/// is refused (unless private addresses are allowed).
pub fn check_host(url: &Url, allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(ip.into()) => Err(Refused::Private(ip.into())),
        Some(url::Host::Ipv6(ip)) if !is_public(ip.into()) => Err(Refused::Private(ip.into())),
        Some(url::Host::Domain(name)) if is_localhost(name) => {
            Err(Refused::NoPublicAddress(name.to_owned()))
        }
        _ => Ok(()),
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The HTTP client's resolver: the system's, keeping only public addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // The port is the client's to set; lookup_host needs one.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused::NoPublicAddress(host)) as _);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as internal");
        }
    }

    #[test]
    fn literal_internal_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://localhost:3000/",
            "https://api.localhost/",
        ] {
            let url = Url::parse(url).unwrap();
            assert!(check_host(&url, false).is_err(), "{url} accepted");
            assert!(
                check_host(&url, true).is_ok(),
                "{url} refused with the flag"
            );
        }
        let public = Url::parse("https://shop.example.com/hooks").unwrap();
        assert!(check_host(&public, false).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(guarded.resolve(name).await.is_err());
        let allowed = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = allowed.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
