//! TLS without ceremony for the embedded shape. The `terraform` CLI only talks HTTPS, so by
//! default the server creates a local certificate authority in the data directory, limited
//! by name constraints to the server's own names, and issues itself a certificate for them,
//! renewed before it expires. It also writes a bundle of the platform's roots plus that CA,
//! for `SSL_CERT_FILE`: trusting Terrace must not stop the CLI from reaching public
//! registries. With certificate files (`--tls-cert`) it keeps the certificates served,
//! without the key, for the built-in listener to trust.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use terrace_runner_listener::trust;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;

const CA_NAME: &str = "Terrace local CA";

pub struct ServerCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Files of the local CA, for the startup banner.
#[derive(Debug, Clone)]
pub struct LocalCa {
    pub ca_file: PathBuf,
    pub bundle_file: PathBuf,
}

/// The names the server certificate is for.
#[derive(Debug, Clone)]
pub struct Hostnames {
    /// Configured or derived from the configuration (localhost, loopback, the listen address,
    /// the external URL's host): a CA that may not certify them is replaced.
    pub required: Vec<String>,
    /// The machine's hostname: covered if the CA was created with it, else left out (it
    /// changes with every container, and must not make clients trust a new CA each time).
    pub incidental: Option<String>,
}

impl Hostnames {
    fn all(&self) -> Vec<String> {
        let mut all = self.required.clone();
        all.extend(self.incidental.clone());
        all.dedup();
        all
    }
}

/// How long a new CA is valid; it is replaced this long before it expires.
const CA_VALIDITY: Duration = Duration::days(5 * 365);
const CA_RENEW_BEFORE: Duration = Duration::days(90);
/// How long a server certificate is valid (browsers accept at most 398 days) and how long
/// before its end it is renewed.
const LEAF_VALIDITY: Duration = Duration::days(365);
const LEAF_RENEW_BEFORE: Duration = Duration::days(30);

/// A name a certificate covers (a SAN) or a CA may certify (a permitted subtree), in one
/// comparable form: `dns:NAME` or `ip:ADDRESS/PREFIX`.
type NameKey = String;

fn name_key(name: &str) -> NameKey {
    match name.parse::<IpAddr>() {
        Ok(ip) => format!("ip:{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }),
        Err(_) => format!("dns:{}", name.to_ascii_lowercase()),
    }
}

/// What the CA may certify: the server's names, and all of loopback. Nothing else, so its
/// key, if stolen, cannot mint certificates clients would accept for other sites.
fn permitted_subtrees(hostnames: &[String]) -> Vec<GeneralSubtree> {
    let mut subtrees = vec![
        GeneralSubtree::IpAddress(CidrSubnet::V4([127, 0, 0, 0], [255, 0, 0, 0])),
        GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
            Ipv6Addr::LOCALHOST.octets(),
            128,
        )),
    ];
    for name in hostnames {
        match name.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => {}
            Ok(ip) => subtrees.push(GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                ip,
                if ip.is_ipv4() { 32 } else { 128 },
            ))),
            Err(_) => subtrees.push(GeneralSubtree::DnsName(name.to_ascii_lowercase())),
        }
    }
    subtrees
}

fn subtree_key(subtree: &GeneralSubtree) -> NameKey {
    match subtree {
        GeneralSubtree::DnsName(name) => format!("dns:{name}"),
        GeneralSubtree::IpAddress(CidrSubnet::V4(addr, mask)) => {
            ip_subtree_key(&[*addr, *mask].concat())
        }
        GeneralSubtree::IpAddress(CidrSubnet::V6(addr, mask)) => {
            ip_subtree_key(&[*addr, *mask].concat())
        }
        _ => String::new(),
    }
}

/// An IP name constraint as encoded in a certificate: the address, then the mask.
fn ip_subtree_key(bytes: &[u8]) -> NameKey {
    let (addr, mask) = bytes.split_at(bytes.len() / 2);
    let prefix: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let ip = match addr.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(addr).expect("4 bytes")),
        16 => IpAddr::from(<[u8; 16]>::try_from(addr).expect("16 bytes")),
        _ => return String::new(),
    };
    format!("ip:{ip}/{prefix}")
}

/// The parts of a certificate that decide whether it must be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertFacts {
    not_after: OffsetDateTime,
    /// The CA's permitted subtrees (`None`: unconstrained), or a server certificate's SANs.
    names: Option<BTreeSet<NameKey>>,
}

fn parse_facts(pem: &str, ca: bool) -> Option<CertFacts> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let not_after =
        OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()?;
    let key = |name: &GeneralName| match name {
        GeneralName::DNSName(name) => format!("dns:{}", name.to_ascii_lowercase()),
        GeneralName::IPAddress(bytes) if ca => ip_subtree_key(bytes),
        GeneralName::IPAddress(bytes) => {
            ip_subtree_key(&[*bytes, &vec![0xff; bytes.len()][..]].concat())
        }
        other => format!("other:{other}"),
    };
    let names = if ca {
        let constraints = cert.name_constraints().ok()??;
        let permitted = constraints.value.permitted_subtrees.as_ref()?;
        permitted.iter().map(|s| key(&s.base)).collect()
    } else {
        let sans = cert.subject_alternative_name().ok()??;
        sans.value.general_names.iter().map(key).collect()
    };
    Some(CertFacts {
        not_after,
        names: Some(names),
    })
}

/// Why the CA must be replaced, if it must: it expires soon, or it is not constrained to
/// (or does not cover) the names the server now uses.
fn ca_replacement(
    ca: &CertFacts,
    hostnames: &[String],
    now: OffsetDateTime,
) -> Option<&'static str> {
    let wanted: BTreeSet<NameKey> = permitted_subtrees(hostnames)
        .iter()
        .map(subtree_key)
        .collect();
    match &ca.names {
        _ if ca.not_after - now < CA_RENEW_BEFORE => Some("it expires soon"),
        None => Some("it is not limited to this server's names"),
        Some(permitted) if !wanted.is_subset(permitted) => {
            Some("the server's names changed beyond what it may certify")
        }
        Some(_) => None,
    }
}

/// Whether the server certificate must be reissued: it expires soon or names other names.
fn leaf_needs_renewal(leaf: &CertFacts, hostnames: &[String], now: OffsetDateTime) -> bool {
    let wanted: BTreeSet<NameKey> = hostnames.iter().map(|n| name_key(n)).collect();
    leaf.not_after - now < LEAF_RENEW_BEFORE || leaf.names.as_ref() != Some(&wanted)
}

/// The server certificate for `hostnames` from the local CA in `data_dir/tls`. The CA is
/// created on first use and replaced (loudly: clients must trust the new one) when it nears
/// its end or no longer covers the server's names; the certificate is kept and reissued when
/// it nears its end, its names change or the CA was replaced. Called at start and daily.
pub fn local_certificate(
    data_dir: &Path,
    names: &Hostnames,
) -> Result<(ServerCertificate, LocalCa)> {
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = OffsetDateTime::now_utc();
    let (ca_file, ca_key_file) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (leaf_file, leaf_key_file) = (dir.join("server.pem"), dir.join("server.key"));
    let read = |path: &Path| std::fs::read_to_string(path).ok();

    let ca_params = ca_params(&names.all(), now)?;
    let existing_ca = match (read(&ca_file), read(&ca_key_file)) {
        (Some(pem), Some(key)) => Some((pem, key)),
        _ => None,
    };
    let kept_ca = existing_ca.as_ref().and_then(|(pem, key)| {
        let key = KeyPair::from_pem(key).ok()?;
        let facts = parse_facts(pem, true).unwrap_or(CertFacts {
            not_after: now,
            names: None,
        });
        match ca_replacement(&facts, &names.required, now) {
            None => Some(key),
            Some(reason) => {
                tracing::warn!(
                    ca = %ca_file.display(),
                    "REPLACING THE LOCAL CA because {reason}: clients that trusted the old one \
                     (SSL_CERT_FILE, system trust stores) must trust the new one"
                );
                None
            }
        }
    });
    let ca_replaced = kept_ca.is_none();
    let ca_key = match kept_ca {
        Some(key) => key,
        None => {
            let key = KeyPair::generate()?;
            replace_file(&ca_key_file, &key.serialize_pem(), true)?;
            replace_file(&ca_file, &ca_params.self_signed(&key)?.pem(), false)?;
            key
        }
    };

    // The CA as it is now says whether the machine's hostname can be certified.
    let permitted = parse_facts(&read(&ca_file).unwrap_or_default(), true)
        .and_then(|facts| facts.names)
        .unwrap_or_default();
    let mut hostnames = names.required.clone();
    hostnames.extend(
        (names.incidental.iter())
            .filter(|&name| permitted.contains(&name_key(name)))
            .cloned(),
    );
    let hostnames = &hostnames[..];

    let kept_leaf = match (ca_replaced, read(&leaf_file), read(&leaf_key_file)) {
        (false, Some(cert_pem), Some(key_pem)) => parse_facts(&cert_pem, false)
            .filter(|facts| !leaf_needs_renewal(facts, hostnames, now))
            .map(|_| ServerCertificate { cert_pem, key_pem }),
        _ => None,
    };
    let leaf = match kept_leaf {
        Some(leaf) => leaf,
        None => {
            let leaf = issue_leaf(hostnames, &ca_params, &ca_key, now)?;
            replace_file(&leaf_key_file, &leaf.key_pem, true)?;
            replace_file(&leaf_file, &leaf.cert_pem, false)?;
            tracing::info!(until = %(now + LEAF_VALIDITY), "issued a server certificate from the local CA");
            leaf
        }
    };

    let bundle_file = dir.join("ca-bundle.pem");
    let mut bundle = trust::to_pem(&trust::platform_roots());
    bundle.push_str(&std::fs::read_to_string(&ca_file)?);
    replace_file(&bundle_file, &bundle, false)?;

    Ok((
        leaf,
        LocalCa {
            ca_file,
            bundle_file,
        },
    ))
}

fn issue_leaf(
    hostnames: &[String],
    ca_params: &CertificateParams,
    ca_key: &KeyPair,
    now: OffsetDateTime,
) -> Result<ServerCertificate> {
    let mut params = CertificateParams::new(hostnames.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        hostnames.first().cloned().unwrap_or_default(),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // A day of slack for clock skew.
    params.not_before = now - Duration::days(1);
    params.not_after = now + LEAF_VALIDITY;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &Issuer::from_params(ca_params, ca_key))?;
    Ok(ServerCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes the certificates of the served chain (`--tls-cert`, which may hold the key too) to
/// `data_dir/tls/served.pem`, for the built-in listener, which trusts exactly them.
pub fn served_certificates(data_dir: &Path, cert_pem: &[u8]) -> Result<PathBuf> {
    let certs = trust::pem_certificates(cert_pem).context("the TLS certificate file")?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("served.pem");
    replace_file(&path, &trust::to_pem(&certs), false)?;
    Ok(path)
}

/// The CA's parameters. A kept CA is identified by its subject and key, which these share
/// with it, so they sign server certificates that chain to it.
fn ca_params(hostnames: &[String], now: OffsetDateTime) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Terrace");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: permitted_subtrees(hostnames),
        excluded_subtrees: Vec::new(),
    });
    params.not_before = now - Duration::days(1);
    params.not_after = now + CA_VALIDITY;
    Ok(params)
}

/// Writes `path` whole or not at all (a temporary file renamed over it); `secret`: readable
/// by its owner only.
fn replace_file(path: &Path, contents: &str, secret: bool) -> Result<()> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    if secret {
        write_secret_file(&temporary, contents)?;
    } else {
        std::fs::write(&temporary, contents)
            .with_context(|| format!("writing {}", temporary.display()))?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// Creates a file only its owner can read (keys), refusing to overwrite one.
pub(crate) fn write_secret_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(extra: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        names.extend(extra.iter().map(|n| n.to_string()));
        names
    }

    fn configured(extra: &[&str], machine: Option<&str>) -> Hostnames {
        Hostnames {
            required: names(extra),
            incidental: machine.map(str::to_string),
        }
    }

    fn keys(list: &[&str]) -> Option<BTreeSet<NameKey>> {
        Some(list.iter().map(|k| k.to_string()).collect())
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join("tls").join(file)).unwrap()
    }

    #[test]
    fn the_ca_is_limited_to_the_servers_names_and_both_certificates_expire() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let (leaf, _) =
            local_certificate(dir.path(), &configured(&["terrace.example.com"], None)).unwrap();

        let ca = parse_facts(&read(dir.path(), "ca.pem"), true).unwrap();
        let expected = keys(&[
            "dns:localhost",
            "dns:terrace.example.com",
            "ip:127.0.0.0/8",
            "ip:::1/128",
        ]);
        assert_eq!(ca.names, expected);
        let years = (ca.not_after - now).whole_days() as f64 / 365.0;
        assert!((4.9..=5.1).contains(&years), "{years} years");

        let served = parse_facts(&leaf.cert_pem, false).unwrap();
        assert_eq!(
            served.names,
            keys(&[
                "dns:localhost",
                "dns:terrace.example.com",
                "ip:127.0.0.1/32",
                "ip:::1/128"
            ])
        );
        let days = (served.not_after - now).whole_days();
        assert!((364..=365).contains(&days), "{days} days");

        // The parsed CA is a CA, for nothing below it.
        let pem = read(dir.path(), "ca.pem");
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let basic = cert.basic_constraints().unwrap().unwrap().value;
        assert!(basic.ca);
        assert_eq!(basic.path_len_constraint, Some(0));
    }

    #[test]
    fn restarts_keep_what_is_valid_and_renew_what_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = local_certificate(dir.path(), &configured(&["a.example"], None))
            .unwrap()
            .0;
        let ca = read(dir.path(), "ca.pem");
        // Same names: the same certificate and CA.
        let again = local_certificate(dir.path(), &configured(&["a.example"], None))
            .unwrap()
            .0;
        assert_eq!(again.cert_pem, first.cert_pem);
        assert_eq!(read(dir.path(), "ca.pem"), ca);
        // A name dropped: a new certificate from the same CA.
        let fewer = local_certificate(dir.path(), &configured(&[], None))
            .unwrap()
            .0;
        assert_ne!(fewer.cert_pem, first.cert_pem);
        assert_eq!(read(dir.path(), "ca.pem"), ca);
        // A name the CA may not certify: a new CA.
        local_certificate(dir.path(), &configured(&["b.example"], None)).unwrap();
        assert_ne!(read(dir.path(), "ca.pem"), ca);
        let bundle = read(dir.path(), "ca-bundle.pem");
        assert!(bundle.ends_with(&read(dir.path(), "ca.pem")));
    }

    #[test]
    fn a_new_machine_hostname_is_left_out_rather_than_replacing_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let sans = |leaf: &ServerCertificate| parse_facts(&leaf.cert_pem, false).unwrap().names;
        let (first, _) = local_certificate(dir.path(), &configured(&[], Some("box-1"))).unwrap();
        assert!(sans(&first).unwrap().contains("dns:box-1"));
        let ca = read(dir.path(), "ca.pem");
        // A recreated container: another hostname. Same CA; the new name is not covered.
        let (second, _) = local_certificate(dir.path(), &configured(&[], Some("box-2"))).unwrap();
        assert_eq!(read(dir.path(), "ca.pem"), ca);
        assert_eq!(
            sans(&second),
            keys(&["dns:localhost", "ip:127.0.0.1/32", "ip:::1/128"])
        );
    }

    #[test]
    fn what_needs_renewal() {
        let now = OffsetDateTime::now_utc();
        let hostnames = names(&["terrace.example.com"]);
        let permitted = keys(&[
            "dns:localhost",
            "dns:terrace.example.com",
            "dns:old.example.com",
            "ip:127.0.0.0/8",
            "ip:::1/128",
        ]);
        let ca = |days, names: &Option<BTreeSet<NameKey>>| CertFacts {
            not_after: now + Duration::days(days),
            names: names.clone(),
        };
        assert_eq!(ca_replacement(&ca(1000, &permitted), &hostnames, now), None);
        assert!(ca_replacement(&ca(60, &permitted), &hostnames, now).is_some());
        // The CA of earlier versions: unconstrained.
        assert!(ca_replacement(&ca(36500, &None), &hostnames, now).is_some());
        let other = names(&["elsewhere.example.com"]);
        assert!(ca_replacement(&ca(1000, &permitted), &other, now).is_some());

        let served = keys(&[
            "dns:localhost",
            "dns:terrace.example.com",
            "ip:127.0.0.1/32",
            "ip:::1/128",
        ]);
        let leaf = |days| CertFacts {
            not_after: now + Duration::days(days),
            names: served.clone(),
        };
        assert!(!leaf_needs_renewal(&leaf(200), &hostnames, now));
        assert!(leaf_needs_renewal(&leaf(20), &hostnames, now));
        assert!(leaf_needs_renewal(&leaf(200), &names(&[]), now));
    }
}
