//! Identities and decisions, free of HTTP and SQL:
//! - [`password`]: argon2 password hashes;
//! - [`secret`]: API token and other bearer secrets, stored only as hashes;
//! - [`pkce`]: the OAuth PKCE check behind `terraform login`;
//! - [`capability`]: signed, expiring URLs that carry their own authorization;
//! - [`saml`]: SAML 2.0 requests and the verification of responses (signature, audience, ...);
//! - [`policy`]: the one place that decides who may do what;
//! - [`throttle`]: rate limits and backoff after failures, as pure rules and in-process state.

pub mod capability;
pub mod password;
pub mod pkce;
pub mod policy;
pub mod saml;
pub mod secret;
pub mod throttle;
