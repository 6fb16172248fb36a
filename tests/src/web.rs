//! The web UI as a plain HTTP client sees it: a browser that keeps its cookies and follows
//! no redirects, signing in through the form (for tests of what a real browser would never
//! send, and for benchmarks).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::Server;

/// A browser without redirects that keeps the cookies it is given.
pub struct Visitor<'a> {
    server: &'a Server,
    client: reqwest::blocking::Client,
    cookies: RefCell<BTreeMap<String, String>>,
}

impl<'a> Visitor<'a> {
    pub fn new(server: &'a Server) -> Visitor<'a> {
        let pem = std::fs::read(&server.ca_bundle).unwrap();
        Visitor {
            server,
            client: crate::http_client(&pem)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: RefCell::default(),
        }
    }

    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> reqwest::blocking::Response {
        let jar: Vec<String> = self
            .cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request.header("cookie", jar.join("; ")).send().unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.borrow_mut().remove(name);
            } else {
                self.cookies
                    .borrow_mut()
                    .insert(name.to_string(), value.to_string());
            }
        }
        response
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.send(self.client.get(format!("{}{path}", self.server.url)))
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        self.send(
            self.client
                .post(format!("{}{path}", self.server.url))
                .form(form),
        )
    }

    /// Signs `username` in through the form; returns where the form went back to.
    pub fn sign_in(
        &self,
        username: &str,
        password: &str,
        return_to: &str,
    ) -> reqwest::blocking::Response {
        let query = form_pair("return_to", return_to);
        let form = self.get(&format!("/app/sign-in?{query}"));
        assert_eq!(form.status(), 200, "{:?}", form.headers());
        let form = form.text().unwrap();
        let csrf = crate::page::hidden_input(&form, "csrf");
        self.post(
            "/app/sign-in",
            &[
                ("username", username),
                ("password", password),
                ("csrf", csrf.as_str()),
                ("return_to", return_to),
            ],
        )
    }

    /// The session's form token, from a page's sign-out form.
    pub fn form_token(&self) -> String {
        let page = self.get("/app/organizations").text().unwrap();
        crate::page::hidden_input(&page, "csrf")
    }
}

fn form_pair(key: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}
