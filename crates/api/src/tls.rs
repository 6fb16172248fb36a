//! TLS without ceremony for the embedded shape. The `terraform` CLI only talks HTTPS, so by
//! default the server creates a local certificate authority in the data directory (once) and
//! issues itself a fresh certificate for its hostnames at every start. It also writes a bundle
//! of the platform's roots plus that CA, for `SSL_CERT_FILE`: trusting Terrace must not stop
//! the CLI from reaching public registries. With certificate files (`--tls-cert`) it keeps
//! the certificates served, without the key, for the built-in listener to trust.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use terrace_runner_listener::trust;

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

/// Issues a server certificate for `hostnames` from the local CA in `data_dir/tls`, creating
/// the CA on first use.
pub fn issue_from_local_ca(
    data_dir: &Path,
    hostnames: &[String],
) -> Result<(ServerCertificate, LocalCa)> {
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_file = dir.join("ca.pem");
    let ca_key_file = dir.join("ca.key");
    let ca_key = if ca_key_file.exists() {
        let pem = std::fs::read_to_string(&ca_key_file)
            .with_context(|| format!("reading {}", ca_key_file.display()))?;
        KeyPair::from_pem(&pem).context("the local CA key is not a valid PEM key")?
    } else {
        let key = KeyPair::generate()?;
        write_secret_file(&ca_key_file, &key.serialize_pem())?;
        key
    };
    // The CA certificate is rebuilt from fixed parameters and the kept key: the same subject
    // and key identify the same issuer, so certificates issued by earlier starts stay valid.
    let ca_params = ca_params()?;
    let ca = ca_params.self_signed(&ca_key)?;
    if !ca_file.exists() {
        std::fs::write(&ca_file, ca.pem())
            .with_context(|| format!("writing {}", ca_file.display()))?;
    }

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
    // A day of slack for clock skew; 397 days is the longest validity clients accept.
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(397);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))?;

    let bundle_file = dir.join("ca-bundle.pem");
    let mut bundle = trust::to_pem(&trust::platform_roots());
    bundle.push_str(&std::fs::read_to_string(&ca_file)?);
    std::fs::write(&bundle_file, bundle)
        .with_context(|| format!("writing {}", bundle_file.display()))?;

    Ok((
        ServerCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        LocalCa {
            ca_file,
            bundle_file,
        },
    ))
}

/// Writes the certificates of the served chain (`--tls-cert`, which may hold the key too) to
/// `data_dir/tls/served.pem`, for the built-in listener, which trusts exactly them.
pub fn served_certificates(data_dir: &Path, cert_pem: &[u8]) -> Result<PathBuf> {
    let certs = trust::pem_certificates(cert_pem).context("the TLS certificate file")?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("served.pem");
    std::fs::write(&path, trust::to_pem(&certs))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Terrace");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    Ok(params)
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
