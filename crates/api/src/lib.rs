//! The Terrace server: the HTTP edge over the domain services. [`app`] assembles the routes,
//! [`routes`] holds one module per resource, [`jsonapi`] the wire format, [`error`] the
//! mapping of failures to statuses, [`server`] and [`cli`] the binary around them.

pub mod app;
pub mod assets;
pub mod audit;
pub mod backup;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod headers;
pub mod jsonapi;
pub mod limits;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod permissions;
pub mod provider_upstream;
pub mod replicas;
pub mod rotate;
pub mod routes;
pub mod saml;
pub mod secrets;
pub mod server;
pub mod smoke;
pub mod smtp;
pub mod tls;
pub mod urls;
pub mod web;
