//! The runner listener. It will claim run jobs from the API over HTTP and execute them as
//! local processes or Kubernetes Jobs; until remote execution lands it is an empty crate that
//! keeps the workspace layout of the design.
