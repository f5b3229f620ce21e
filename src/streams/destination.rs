//! Which URLs and addresses an audit stream may be delivered to: the guard against
//! server-side request forgery. A tenant-supplied URL must never make Tessera reach a
//! cloud metadata service, a link-local or reserved address, or (unless the operator
//! allows private destinations) its own host or private network. Addresses that embed
//! an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the address they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// The longest destination URL accepted.
const MAX_URL_LEN: usize = 2048;

/// What the operator permits beyond public addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Loopback, RFC 1918, CGNAT (100.64.0.0/10) and IPv6 unique-local destinations are
    /// allowed: for an internal SIEM, and for tests against a loopback receiver.
    pub allow_private: bool,
}

/// Where an address leads, for the policy to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    /// This host or a private network: allowed only with `allow_private`.
    Private,
    /// Never a stream destination: metadata services, link-local, multicast, reserved.
    Forbidden,
}

/// A destination URL, checked for its shape: absolute, `https` (plain `http` only to
/// this host, for tests and local collectors), with a host and without credentials.
/// Whether its host's addresses are allowed is checked when connecting
/// ([`check_ip`] on every resolved address), since a name can resolve anywhere.
pub fn parse_url(text: &str) -> Result<url::Url> {
    if text.len() > MAX_URL_LEN {
        return Err(Error::Invalid("stream url: too long"));
    }
    let url = url::Url::parse(text).map_err(|_| Error::Invalid("stream url: not a url"))?;
    let host = url
        .host()
        .ok_or(Error::Invalid("stream url: host required"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs and listings; receivers authenticate us
        // by the signature instead.
        return Err(Error::Invalid("stream url: credentials not allowed"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => return Err(Error::Invalid("stream url: https required")),
        _ => return Err(Error::Invalid("stream url: scheme must be https")),
    }
    Ok(url)
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => *name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether a stream may connect to `ip` under `policy`.
pub fn check_ip(ip: IpAddr, policy: &Policy) -> Result<()> {
    let allowed = match classify(ip) {
        Class::Public => true,
        Class::Private => policy.allow_private,
        Class::Forbidden => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::Invalid("stream destination address is not allowed"))
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    // Metadata services first: some sit inside ranges that are otherwise private
    // (Alibaba's in CGNAT) or public (Azure's platform endpoint).
    const METADATA: [[u8; 4]; 3] = [
        [169, 254, 169, 254], // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
        [100, 100, 100, 200], // Alibaba Cloud
        [168, 63, 129, 16],   // Azure platform (WireServer)
    ];
    const FORBIDDEN: [([u8; 4], u32); 9] = [
        ([0, 0, 0, 0], 8),       // "this network", including 0.0.0.0
        ([169, 254, 0, 0], 16),  // link-local
        ([192, 0, 0, 0], 24),    // IETF protocol assignments (OCI's 192.0.0.192)
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, including 255.255.255.255
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ];
    const PRIVATE: [([u8; 4], u32); 6] = [
        ([127, 0, 0, 0], 8),    // loopback
        ([10, 0, 0, 0], 8),     // RFC 1918
        ([172, 16, 0, 0], 12),  // RFC 1918
        ([192, 168, 0, 0], 16), // RFC 1918
        ([100, 64, 0, 0], 10),  // CGNAT
        ([198, 18, 0, 0], 15),  // benchmarking: never on the internet
    ];
    if METADATA.iter().any(|m| ip.octets() == *m)
        || FORBIDDEN.iter().any(|(net, p)| in_v4(ip, *net, *p))
    {
        Class::Forbidden
    } else if PRIVATE.iter().any(|(net, p)| in_v4(ip, *net, *p)) {
        Class::Private
    } else {
        Class::Public
    }
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The low 32 bits as an IPv4 address.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32)
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let v6 = |a, b, c, d, e, f, g, h| Ipv6Addr::new(a, b, c, d, e, f, g, h);
    if ip.is_unspecified() {
        return Class::Forbidden;
    }
    if ip.is_loopback() {
        return Class::Private;
    }
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (the deprecated compatible form; :: and ::1
    // are handled above) and 64:ff9b::/96 (NAT64) reach the IPv4 address they embed.
    if in_v6(ip, v6(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(ip, Ipv6Addr::UNSPECIFIED, 96)
        || in_v6(ip, v6(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        return classify_v4(low_v4(ip));
    }
    // 6to4 carries the IPv4 address in bits 16..48.
    if in_v6(ip, v6(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        let embedded = ((u128::from(ip) >> 80) & 0xffff_ffff) as u32;
        return classify_v4(Ipv4Addr::from(embedded));
    }
    let forbidden: [(Ipv6Addr, u32); 10] = [
        (v6(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0), 32), // AWS services (IMDS at fd00:ec2::254)
        (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),      // link-local
        (v6(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),      // deprecated site-local
        (v6(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),       // multicast
        (v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),  // documentation
        (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),      // documentation (RFC 9637)
        (v6(0x0100, 0, 0, 0, 0, 0, 0, 0), 64),      // discard-only
        (v6(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),      // Teredo: embeds an obfuscated IPv4
        (v6(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),   // local-use NAT64: embeds IPv4 anywhere
        (v6(0, 0, 0, 0, 0, 0, 0, 0), 8),            // reserved (the rest of ::/8)
    ];
    if forbidden.iter().any(|(net, p)| in_v6(ip, *net, *p)) {
        Class::Forbidden
    } else if in_v6(ip, v6(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7) {
        Class::Private
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_private: false,
    };
    const LENIENT: Policy = Policy {
        allow_private: true,
    };

    fn allowed(ip: &str, policy: Policy) -> bool {
        check_ip(ip.parse().unwrap(), &policy).is_ok()
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(allowed(ip, STRICT), "{ip}");
            assert!(allowed(ip, LENIENT), "{ip}");
        }
    }

    #[test]
    fn private_addresses_need_the_operator_s_permission() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a01:203",
            "2002:7f00:1::1",
        ] {
            assert!(!allowed(ip, STRICT), "{ip}");
            assert!(allowed(ip, LENIENT), "{ip}");
        }
    }

    #[test]
    fn some_addresses_are_never_allowed() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.0.23",
            "100.100.100.200",
            "168.63.129.16",
            "192.0.0.192",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!allowed(ip, STRICT), "{ip}");
            assert!(!allowed(ip, LENIENT), "{ip}");
        }
        assert!(matches!(
            check_ip("169.254.169.254".parse().unwrap(), &LENIENT),
            Err(Error::Invalid("stream destination address is not allowed"))
        ));
    }

    #[test]
    fn urls_must_be_https_except_to_this_host() {
        for ok in [
            "https://example.com/ingest",
            "https://siem.internal:8443/v1/logs",
            "https://10.1.2.3/",
            "http://127.0.0.1:9/x",
            "http://localhost:4318/v1/logs",
            "http://[::1]:8080/",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://example.com", "stream url: https required"),
            ("http://10.1.2.3/", "stream url: https required"),
            (
                "http://localhost.example.com/",
                "stream url: https required",
            ),
            ("ftp://example.com/", "stream url: scheme must be https"),
            ("file:///etc/passwd", "stream url: host required"),
            (
                "https://user:pw@example.com",
                "stream url: credentials not allowed",
            ),
            (
                "https://user@example.com",
                "stream url: credentials not allowed",
            ),
            ("/relative/path", "stream url: not a url"),
            ("https://", "stream url: not a url"),
        ] {
            match parse_url(bad) {
                Err(Error::Invalid(text)) => assert_eq!(text, why, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            parse_url(&long),
            Err(Error::Invalid("stream url: too long"))
        ));
    }

    #[test]
    fn bracketed_mapped_loopback_is_classified_as_loopback() {
        let url = parse_url("https://[::ffff:127.0.0.1]/").unwrap();
        let Some(url::Host::Ipv6(ip)) = url.host() else {
            panic!("an IPv6 literal");
        };
        assert!(check_ip(IpAddr::V6(ip), &STRICT).is_err());
        assert!(check_ip(IpAddr::V6(ip), &LENIENT).is_ok());
    }
}
