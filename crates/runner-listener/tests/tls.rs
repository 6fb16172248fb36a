//! The client over TLS: a server whose certificate comes from a private CA is trusted only
//! when that CA (or the server's own certificate) is given, or is among the platform's roots.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::{job, Fake};
use terrace_protocol::{JobKind, JobSpec, Operation};
use terrace_runner_listener::client::{ClientError, JobClient};

/// A CA (PEM) and a certificate and key for 127.0.0.1 signed by it.
fn certificates() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Terrace test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca_pem, cert_pem, key_pem) = certificates();
    let mut fake = Fake::default();
    let spec = JobSpec {
        job_id: "plan-1".into(),
        kind: JobKind::Plan,
        run_id: "run-1".into(),
        workspace_id: "ws-1".into(),
        workspace_name: "app".into(),
        organization: "acme".into(),
        working_directory: String::new(),
        terraform_version: "latest".into(),
        operation: Operation::default(),
        structured_output: true,
        var_files: vec![],
        env: vec![],
        has_state: false,
        has_ssh_key: false,
        log_offset: 0,
        engine: "terraform".into(),
        tool: None,
        tool_error: None,
    };
    fake.jobs.insert("token".into(), job(spec));
    let shared = std::sync::Arc::new(std::sync::Mutex::new(fake));
    let app = support::router(shared.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        cert_pem.clone().into_bytes(),
        key_pem.into_bytes(),
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .serve(app.into_make_service())
            .await
            .unwrap()
    });

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let trusting = JobClient::new(&url, "token", Some(&ca_file)).unwrap();
    assert_eq!(trusting.spec().await.unwrap().job_id, "plan-1");

    // Refused at once: no retries for a certificate that will not change.
    let untrusting = JobClient::new(&url, "token", None).unwrap();
    let started = std::time::Instant::now();
    match untrusting.spec().await {
        Err(ClientError::Tls(detail)) => {
            assert!(detail.contains("certificate"), "{detail}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let missing = dir.path().join("missing.pem");
    assert!(JobClient::new(&url, "token", Some(&missing)).is_err());

    // The server's own certificate, without its CA (what a built-in listener is given for
    // `--tls-cert`): trusted as it is.
    let served = dir.path().join("served.pem");
    std::fs::write(&served, &cert_pem).unwrap();
    let pinned = JobClient::new(&url, "token", Some(&served)).unwrap();
    assert_eq!(pinned.spec().await.unwrap().job_id, "plan-1");

    // The platform's roots come from SSL_CERT_FILE when it is set (the only test in this
    // binary, so no other thread reads the environment meanwhile).
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let platform = JobClient::new(&url, "token", None).unwrap();
    assert_eq!(platform.spec().await.unwrap().job_id, "plan-1");
    // A CA file that does not vouch for the server leaves it to the platform's roots.
    let (other_ca, _, _) = certificates();
    let other = dir.path().join("other.pem");
    std::fs::write(&other, other_ca).unwrap();
    let both = JobClient::new(&url, "token", Some(&other)).unwrap();
    assert_eq!(both.spec().await.unwrap().job_id, "plan-1");
    // And neither vouching for it is refused.
    std::env::set_var("SSL_CERT_FILE", &other);
    let neither = JobClient::new(&url, "token", Some(&other)).unwrap();
    assert!(matches!(neither.spec().await, Err(ClientError::Tls(_))));
}
