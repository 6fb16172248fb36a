//! Which servers the listener and its runners trust: the platform's roots (the system's
//! store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, as OpenSSL and Go read them, with no
//! distribution's path written here) and the certificates of a CA file.
//!
//! A certificate of the CA file is also trusted as the server's own certificate, byte for
//! byte, as Go's TLS does when a root is the leaf itself. That is how a server's built-in
//! listener trusts the certificate it serves (`--tls-cert`), whoever issued it: the server may
//! have the leaf and intermediates but not its company's root.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The platform's CA certificates; unreadable ones are skipped with a warning (a broken
/// system bundle must not stop a listener that was given its own CA file).
pub fn platform_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!(error = %err, "skipping system CA certificates");
    }
    found.certs
}

/// The certificates of a PEM file (other sections, such as a private key, are skipped).
pub fn read_pem_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the CA file {}: {e}", path.display()))?;
    pem_certificates(&pem).map_err(|e| anyhow::anyhow!("the CA file {}: {e}", path.display()))
}

/// The certificates of PEM text, at least one; other sections are skipped. (rustls's PEM
/// reader decodes base64 in constant time, as keys need; for a bundle of public certificates,
/// which every runner reads as it starts, that took a millisecond.)
pub fn pem_certificates(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    };
    let mut certs = Vec::new();
    let mut rest = pem;
    while let Some(begin) = find(rest, BEGIN) {
        let body = &rest[begin + BEGIN.len()..];
        let end = find(body, END)
            .ok_or_else(|| anyhow::anyhow!("invalid PEM: a certificate has no END line"))?;
        let text: Vec<u8> = body[..end]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|e| anyhow::anyhow!("invalid PEM: certificate {}: {e}", certs.len() + 1))?;
        certs.push(CertificateDer::from(der));
        rest = &body[end + END.len()..];
    }
    if certs.is_empty() {
        anyhow::bail!("no certificate in it");
    }
    Ok(certs)
}

/// Certificates as PEM text.
pub fn to_pem(certs: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for cert in certs {
        let text = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in text.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// A TLS client configuration trusting the platform's roots and `extra` (as roots, and each
/// as the exact certificate a server may present).
pub fn client_config(extra: Vec<CertificateDer<'static>>) -> anyhow::Result<rustls::ClientConfig> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier = Verifier {
        own: webpki_verifier(extra.clone(), &provider),
        platform: OnceLock::new(),
        pinned: extra,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// WebPKI verification with these roots; `None` without any (a minimal image and no CA file
/// is not an error: plain HTTP still works).
fn webpki_verifier(
    roots: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots);
    if store.is_empty() {
        return None;
    }
    match WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build() {
        Ok(verifier) => Some(verifier),
        Err(err) => {
            tracing::warn!(error = %err, "cannot verify servers with these CA certificates");
            None
        }
    }
}

/// WebPKI verification, except that a certificate given in the CA file is accepted as it is.
/// The platform's roots are read only for a server the CA file does not vouch for: reading
/// and decoding the system's bundle was a millisecond of every runner's start, and runners
/// usually talk to a server of the CA file. (A chain is valid under the union of two sets of
/// roots exactly when it is valid under one of them, so trying the CA file's first changes
/// nothing.)
#[derive(Debug)]
struct Verifier {
    /// The CA file's certificates as roots.
    own: Option<Arc<WebPkiServerVerifier>>,
    /// The platform's roots and the CA file's, once needed.
    platform: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Only the holder of that certificate's key can complete the handshake.
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        let verify = |webpki: &WebPkiServerVerifier| {
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        if let Some(own) = &self.own {
            if let Ok(verified) = verify(own) {
                return Ok(verified);
            }
        }
        let platform = self.platform.get_or_init(|| {
            let mut roots = platform_roots();
            roots.extend(self.pinned.iter().cloned());
            webpki_verifier(roots, &self.provider)
        });
        match platform {
            Some(webpki) => verify(webpki),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn pem_round_trips() {
        let der = CertificateDer::from(vec![7u8; 100]);
        let pem = to_pem(std::slice::from_ref(&der));
        let back: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![der.clone()]);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_certificates(pem.as_bytes()).unwrap(), vec![der]);
    }

    #[test]
    fn pem_certificates_skip_other_sections() {
        let (first, second) = (
            CertificateDer::from(vec![1u8; 40]),
            CertificateDer::from(vec![2u8; 300]),
        );
        let pem = format!(
            "# a comment\n{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
             -----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n{}",
            to_pem(std::slice::from_ref(&first)),
            to_pem(std::slice::from_ref(&second)).replace('\n', "\r\n"),
        );
        assert_eq!(
            pem_certificates(pem.as_bytes()).unwrap(),
            vec![first, second]
        );
    }

    #[test]
    fn bad_pem_is_refused() {
        let pem = to_pem(&[CertificateDer::from(vec![3u8; 60])]);
        let truncated = &pem[..pem.len() - 10];
        assert!(pem_certificates(truncated.as_bytes()).is_err());
        let garbled = pem.replacen("-----\n", "-----\n*", 1);
        assert!(pem_certificates(garbled.as_bytes()).is_err());
        assert!(pem_certificates(b"no PEM here").is_err());
    }

    /// The machine's own bundle, read as rustls reads it.
    #[test]
    fn the_system_bundle_reads_as_rustls_reads_it() {
        let path = Path::new("/etc/ssl/certs/ca-certificates.crt");
        let pem = std::fs::read(path).expect("the system's CA bundle (ca-certificates)");
        let theirs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(theirs.len() > 50, "{}", theirs.len());
        assert_eq!(pem_certificates(&pem).unwrap(), theirs);
    }
}
