//! Reading the server's HTML pages as a browser would: form fields and cookies.

/// The value of `<input name="NAME" value="...">` in a page.
pub fn hidden_input(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The value of the cookie `name` that the response sets, if it sets one.
pub fn cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Signs in on `terraform login`'s consent page as a browser would (fetch the page for its
/// CSRF pair, post the form approving a valid request); returns the answer: a redirect on
/// success, the form again with 401 on a wrong password.
pub fn consent_sign_in(
    server: &crate::Server,
    username: &str,
    password: &str,
) -> reqwest::blocking::Response {
    use base64::Engine;
    use sha2::Digest;
    let client = crate::http_client(&std::fs::read(&server.ca_bundle).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
        b"a-verifier-of-at-least-43-characters-0123456789",
    ));
    let mut form: Vec<(String, String)> = [
        ("client_id", "terraform-cli"),
        ("redirect_uri", "http://localhost:10000/login"),
        ("response_type", "code"),
        ("state", "s"),
        ("code_challenge_method", "S256"),
        ("code_challenge", &challenge),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut url = url::Url::parse(&format!("{}/app/oauth/authorization", server.url)).unwrap();
    url.query_pairs_mut().extend_pairs(&form);
    let page = client.get(url).send().unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = cookie(&page, "terrace_csrf").expect("a CSRF cookie");
    let csrf = hidden_input(&page.text().unwrap(), "csrf");
    form.extend([
        ("username".into(), username.into()),
        ("password".into(), password.into()),
        ("csrf".into(), csrf),
        ("decision".into(), "approve".into()),
    ]);
    client
        .post(format!("{}/app/oauth/authorization", server.url))
        .header("cookie", format!("terrace_csrf={csrf_cookie}"))
        .form(&form)
        .send()
        .unwrap()
}
