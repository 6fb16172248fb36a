//! A real SAML 2.0 identity provider for tests: Debian's SimpleSAMLphp (installed by
//! scripts/install-test-deps.sh) served by `php -S` on a loopback port, with its
//! `exampleauth:UserPass` users (alice/alicepass in groups admins and devs, bob/bobpass in
//! devs), a signing key generated for the test, and the service providers registered (one
//! for the site, or several: one per organization).
//! Responses and assertions are both signed (RSA-SHA256).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::sso::{form, Browser, Page};
use crate::Server;

/// The identity provider, stopped when dropped.
pub struct SamlIdp {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SSP_CONFIG: &str = "/etc/simplesamlphp/config.php";
const SSP_WWW: &str = "/usr/share/simplesamlphp/www";

/// A throwaway key and self-signed certificate (PEM): `(key, cert)` in `dir` named `name`.
pub fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl req");
    (key, cert)
}

impl SamlIdp {
    /// Starts the identity provider on `port`, trusting the service provider `sp_entity_id`
    /// whose ACS is `acs_url`.
    pub fn start(port: u16, sp_entity_id: &str, acs_url: &str) -> SamlIdp {
        SamlIdp::start_for(port, &[(sp_entity_id, acs_url)])
    }

    /// Starts the identity provider on `port`, trusting each service provider
    /// `(entity ID, ACS URL)` of `service_providers`.
    pub fn start_for(port: u16, service_providers: &[(&str, &str)]) -> SamlIdp {
        assert!(
            Path::new(SSP_CONFIG).exists(),
            "SimpleSAMLphp is not installed: run scripts/install-test-deps.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["config", "metadata", "cert", "log", "data", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        key_pair(&d.join("cert"), "idp");
        let base = format!("http://127.0.0.1:{port}/");
        let mut config = std::fs::read_to_string(SSP_CONFIG).unwrap();
        let path = |sub: &str| format!("{}/", d.join(sub).display());
        for (from, to) in [
            (
                "'baseurlpath' => 'simplesamlphp/',".to_string(),
                format!("'baseurlpath' => '{base}',"),
            ),
            (
                "'certdir' => '/etc/ssl/certs/',".into(),
                format!("'certdir' => '{}',", path("cert")),
            ),
            (
                "'loggingdir' => '/var/log/simplesamlphp/',".into(),
                format!("'loggingdir' => '{}',", path("log")),
            ),
            (
                "'datadir' => '/var/lib/simplesamlphp/data/',".into(),
                format!("'datadir' => '{}',", path("data")),
            ),
            (
                "'tempdir' => '/tmp/simplesaml',".into(),
                format!("'tempdir' => '{}',", path("tmp")),
            ),
            (
                "'metadatadir' => '/etc/simplesamlphp/metadata/',".into(),
                format!("'metadatadir' => '{}',", path("metadata")),
            ),
            (
                "'logging.handler' => 'syslog',".into(),
                "'logging.handler' => 'file',".into(),
            ),
            (
                "'enable.saml20-idp' => false,".into(),
                "'enable.saml20-idp' => true,".into(),
            ),
            (
                "'exampleauth' => false,".into(),
                "'exampleauth' => true,".into(),
            ),
            (
                "'session.cookie.secure' => true,".into(),
                "'session.cookie.secure' => false,".into(),
            ),
        ] {
            assert!(
                config.contains(&from),
                "SimpleSAMLphp's config.php changed: {from}"
            );
            config = config.replace(&from, &to);
        }
        std::fs::write(d.join("config/config.php"), config).unwrap();
        std::fs::copy("/etc/simplesamlphp/acl.php", d.join("config/acl.php")).unwrap();
        std::fs::write(
            d.join("config/authsources.php"),
            r#"<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => ['exampleauth:UserPass',
        'alice:alicepass' => ['uid' => ['alice'], 'email' => ['alice@example.test'], 'groups' => ['admins', 'devs']],
        'bob:bobpass' => ['uid' => ['bob'], 'email' => ['bob@example.test'], 'groups' => ['devs']],
    ],
];
"#,
        )
        .unwrap();
        std::fs::write(
            d.join("metadata/saml20-idp-hosted.php"),
            format!(
                r#"<?php
$metadata['{base}saml2/idp/metadata.php'] = [
    'host' => '__DEFAULT__', 'privatekey' => 'idp.key', 'certificate' => 'idp.crt', 'auth' => 'example-userpass',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', 'simplesaml.nameidattribute' => 'uid',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
"#
            ),
        )
        .unwrap();
        let mut remote = String::from("<?php\n");
        for (sp_entity_id, acs_url) in service_providers {
            remote.push_str(&format!(
                r#"$metadata['{sp_entity_id}'] = [
    'AssertionConsumerService' => '{acs_url}',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', 'simplesaml.nameidattribute' => 'uid',
    'saml20.sign.assertion' => true, 'saml20.sign.response' => true,
];
"#
            ));
        }
        std::fs::write(d.join("metadata/saml20-sp-remote.php"), remote).unwrap();
        let spawn = |d: &Path| {
            let log = std::fs::File::options()
                .create(true)
                .append(true)
                .open(d.join("php.log"))
                .unwrap();
            Command::new("php")
                .args(["-S", &format!("127.0.0.1:{port}"), "-t", SSP_WWW])
                .env("SIMPLESAMLPHP_CONFIG_DIR", d.join("config"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("php runs")
        };
        let child = spawn(d);
        let mut idp = SamlIdp { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if reqwest::blocking::get(idp.metadata_url()).is_ok_and(|r| r.status().is_success()) {
                return idp;
            }
            // The port was chosen before the server under test started: another process (a
            // client connection's ephemeral port) may hold it for a moment. Try again.
            if idp.child.try_wait().ok().flatten().is_some() {
                idp.child = spawn(idp.dir.path());
            }
            assert!(
                Instant::now() < deadline,
                "SimpleSAMLphp did not start: {}",
                std::fs::read_to_string(idp.dir.path().join("php.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its entity ID, which is also where its metadata is.
    pub fn metadata_url(&self) -> String {
        format!("http://127.0.0.1:{}/saml2/idp/metadata.php", self.port)
    }

    /// Its signing key and certificate (PEM files).
    pub fn signing_key(&self) -> (PathBuf, PathBuf) {
        let cert = self.dir.path().join("cert");
        (cert.join("idp.key"), cert.join("idp.crt"))
    }

    /// A scratch directory that lives as long as the identity provider.
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
}

/// Signs the assertion `assertion_id` of a response (XML, its old signatures removed) with
/// `key`/`cert` using Debian's `xmlsec1`, as an identity provider holding that key would.
pub fn sign_assertion(
    xml: &str,
    assertion_id: &str,
    key: &Path,
    cert: &Path,
    scratch: &Path,
) -> String {
    let unsigned = strip_signatures(xml);
    let template = format!(
        concat!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>",
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
            "<ds:Reference URI=\"#{id}\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
            "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
            "<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>",
            "<ds:SignatureValue></ds:SignatureValue>",
            "<ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"
        ),
        id = assertion_id
    );
    // The signature goes right after the assertion's Issuer (the schema's order).
    let start = unsigned
        .find(&format!("ID=\"{assertion_id}\""))
        .expect("the assertion");
    let issuer_end = start
        + unsigned[start..]
            .find("</saml:Issuer>")
            .expect("the assertion's issuer")
        + "</saml:Issuer>".len();
    let templated = format!(
        "{}{template}{}",
        &unsigned[..issuer_end],
        &unsigned[issuer_end..]
    );
    let input = scratch.join(format!("unsigned-{assertion_id}.xml"));
    std::fs::write(&input, templated).unwrap();
    let output = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .arg(&input)
        .output()
        .expect("xmlsec1 runs");
    assert!(
        output.status.success(),
        "xmlsec1 --sign: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The XML without its `ds:Signature` elements.
pub fn strip_signatures(xml: &str) -> String {
    let mut out = xml.to_string();
    while let Some(start) = out.find("<ds:Signature") {
        let end = out[start..]
            .find("</ds:Signature>")
            .expect("a closed signature")
            + start
            + "</ds:Signature>".len();
        out.replace_range(start..end, "");
    }
    out
}

/// A response on its way to the ACS: where the identity provider's form posts, its fields.
pub struct Posted {
    pub acs: String,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    pub fn field(&self, name: &str) -> &str {
        &self.fields.iter().find(|(k, _)| k == name).unwrap().1
    }

    pub fn xml(&self) -> String {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.field("SAMLResponse"))
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    /// The same post with another response.
    pub fn with_xml(&self, xml: &str) -> Posted {
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
        Posted {
            acs: self.acs.clone(),
            fields: self
                .fields
                .iter()
                .map(|(k, v)| {
                    if k == "SAMLResponse" {
                        (k.clone(), encoded.clone())
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect(),
        }
    }
}

/// The identity provider's side of a sign-in, for the shared browser (tests/src/sso.rs).
pub trait SamlFlow {
    fn to_acs(&mut self, start: &str, user: &str, password: &str) -> Posted;
    fn post_acs(&mut self, posted: &Posted) -> Page;
    /// A sign-in through the site's SAML start.
    fn saml_sign_in(&mut self, server: &Server, user: &str, password: &str) -> Page;
}

impl SamlFlow for Browser {
    /// From Terrace's start URL through the identity provider's login, up to (not into) the
    /// post to the ACS.
    fn to_acs(&mut self, start: &str, user: &str, password: &str) -> Posted {
        let mut page = self.get(start);
        assert_eq!(page.status, 302, "start: {}", page.text);
        for _ in 0..10 {
            if let Some(location) = page.location.clone() {
                page = self.get(&location);
                continue;
            }
            assert_eq!(page.status, 200, "{}: {}", page.url, page.text);
            let (action, mut fields) = form(&page.text);
            let action = url::Url::parse(&page.url)
                .unwrap()
                .join(&action)
                .unwrap()
                .to_string();
            if fields.iter().any(|(k, _)| k == "SAMLResponse") {
                return Posted {
                    acs: action,
                    fields,
                };
            }
            assert!(page.text.contains("name=\"password\""), "{}", page.text);
            fields.retain(|(k, _)| k != "username" && k != "password");
            fields.push(("username".into(), user.into()));
            fields.push(("password".into(), password.into()));
            page = self.post(&action, &fields);
        }
        panic!("the identity provider's flow did not end: {}", page.text)
    }

    fn post_acs(&mut self, posted: &Posted) -> Page {
        self.post(&posted.acs, &posted.fields)
    }

    fn saml_sign_in(&mut self, server: &Server, user: &str, password: &str) -> Page {
        let start = format!("{}/app/sso/saml/start?return_to=/", server.url);
        let posted = self.to_acs(&start, user, password);
        self.post_acs(&posted)
    }
}

/// The value of the first `name="..."` attribute of `element` in `xml`.
pub fn attribute_of(xml: &str, element: &str, name: &str) -> String {
    let at = xml.find(&format!("<{element} ")).expect(element);
    let marker = format!("{name}=\"");
    let start = at + xml[at..].find(&marker).unwrap() + marker.len();
    xml[start..].split('"').next().unwrap().to_string()
}
