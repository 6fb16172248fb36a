//! The organization's private registry, read in a browser: its modules and providers (found
//! by a part of their name), a module's page (how to use it, its versions, the README of the
//! version shown) and a provider's (how to require it, each version with its signing key and
//! platforms). Publishing stays with the API and the CLI tools made for it; these pages read
//! through the same domain calls as `/registry-modules` and `/registry-providers`, so every
//! member of the organization may read them and nobody else finds them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use terrace_domain::providers::ProviderRef;
use terrace_domain::registry::modules::{ModuleName, ModuleRef, PRIVATE};
use terrace_domain::registry::names::Version;
use terrace_domain::DomainError;
use terrace_storage::model::{ModuleVersionStatus, PageRequest, ProviderVersion};
use terrace_storage::store::RegistryModuleFilter;

use super::{failure, markdown, page_count, path_segment, safe_path, when, Session, PAGE_SIZE};
use crate::app::AppState;

/// How many of a provider's versions its page details (newest first).
const PROVIDER_VERSIONS_SHOWN: usize = 20;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    #[serde(skip_serializing)]
    page: Option<u32>,
}

fn registry_path(organization: &str) -> String {
    format!("/app/{}/registry", path_segment(organization))
}

/// Version strings, newest first by semantic versioning (any that do not parse last, as
/// given).
pub fn newest_first(versions: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ranked: Vec<(Option<Version>, String)> = versions
        .into_iter()
        .map(|v| (Version::parse(&v).ok(), v))
        .collect();
    ranked.sort_by(|(a, _), (b, _)| b.cmp(a));
    ranked.into_iter().map(|(_, v)| v).collect()
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let services = &state.services;
    let given = Some(query.q.trim().to_string()).filter(|q| !q.is_empty());
    let page = PageRequest {
        number: query.page.unwrap_or(1).max(1),
        size: PAGE_SIZE,
    };
    let filter = RegistryModuleFilter {
        query: given.clone(),
        ..RegistryModuleFilter::default()
    };
    let modules = match services
        .list_registry_modules(&session.caller, &organization, Some(PRIVATE), &filter, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let providers = match services
        .list_registry_providers(
            &session.caller,
            &organization,
            Some(PRIVATE),
            given.as_deref(),
            true,
            page,
        )
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let module_rows: Vec<_> = modules
        .items
        .into_iter()
        .map(|view| {
            let published = view
                .versions
                .into_iter()
                .filter(|v| v.status == ModuleVersionStatus::Ok)
                .map(|v| v.version);
            minijinja::context! {
                name => view.module.name,
                provider => view.module.provider,
                latest => newest_first(published).into_iter().next(),
                updated => when(view.module.updated_at),
            }
        })
        .collect();
    let provider_rows: Vec<_> = providers
        .items
        .into_iter()
        .map(|view| {
            let versions = view.versions.unwrap_or_default();
            minijinja::context! {
                name => view.provider.name,
                versions => versions.len(),
                latest => newest_first(versions.into_iter().map(|v| v.version)).into_iter().next(),
                updated => when(view.provider.updated_at),
            }
        })
        .collect();
    let total = modules.total.max(providers.total);
    state.pages.render(
        StatusCode::OK,
        "app/registry.html",
        minijinja::context! {
            session => session.view(),
            organization,
            q => query.q.clone(),
            modules => module_rows,
            module_total => modules.total,
            providers => provider_rows,
            provider_total => providers.total,
            page => page.number,
            pages => page_count(total),
            pages_base => format!("?{}&", serde_urlencoded::to_string(&query).unwrap_or_default()),
            host => state.urls.registry_host(),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VersionQuery {
    /// The version shown; the newest published one if none.
    version: Option<String>,
}

pub async fn module(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, provider)): Path<(String, String, String)>,
    Query(query): Query<VersionQuery>,
) -> Response {
    let services = &state.services;
    let reference = ModuleRef::Name(ModuleName {
        organization: organization.clone(),
        registry: PRIVATE.to_string(),
        namespace: organization.clone(),
        name,
        provider,
    });
    let view = match services.registry_module(&session.caller, &reference).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let published = newest_first(
        view.versions
            .iter()
            .filter(|v| v.status == ModuleVersionStatus::Ok)
            .map(|v| v.version.clone()),
    );
    let shown = match query.version {
        Some(asked) if published.contains(&asked) => Some(asked),
        Some(_) => return failure(&state, DomainError::NotFound("module version")),
        None => published.first().cloned(),
    };
    let readme = match &shown {
        Some(version) => match services
            .module_readme(&session.caller, &reference, version)
            .await
        {
            Ok(readme) => readme.map(markdown::readme_view),
            Err(err) => return failure(&state, err),
        },
        None => None,
    };
    let pending: Vec<String> = view
        .versions
        .iter()
        .filter(|v| v.status == ModuleVersionStatus::Pending)
        .map(|v| v.version.clone())
        .collect();
    let module = &view.module;
    let base = format!(
        "{}/modules/{}/{}",
        registry_path(&organization),
        path_segment(&module.name),
        path_segment(&module.provider)
    );
    let source = format!(
        "{}/{}/{}/{}",
        state.urls.registry_host(),
        organization,
        module.name,
        module.provider
    );
    state.pages.render(
        StatusCode::OK,
        "app/registry_module.html",
        minijinja::context! {
            session => session.view(),
            organization,
            name => module.name.clone(),
            provider => module.provider.clone(),
            source,
            base => safe_path(base),
            published,
            pending,
            shown,
            readme,
        },
    )
}

pub async fn provider(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
) -> Response {
    let services = &state.services;
    let reference = ProviderRef {
        organization: organization.clone(),
        registry_name: PRIVATE.to_string(),
        namespace: organization.clone(),
        name,
    };
    let view = match services
        .registry_provider(&session.caller, &reference, true)
        .await
    {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let mut versions: Vec<ProviderVersion> = view.versions.unwrap_or_default();
    let order = newest_first(versions.iter().map(|v| v.version.clone()));
    versions.sort_by_key(|v| order.iter().position(|o| *o == v.version));
    let total = versions.len();
    let mut rows = Vec::new();
    for version in versions.into_iter().take(PROVIDER_VERSIONS_SHOWN) {
        let platforms = match services
            .list_provider_platforms(
                &session.caller,
                &reference,
                &version.version,
                PageRequest::all(),
            )
            .await
        {
            Ok(found) => found.items,
            Err(err) => return failure(&state, err),
        };
        let uploaded = platforms
            .iter()
            .filter(|p| p.platform.binary_key.is_some())
            .count();
        rows.push(minijinja::context! {
            version => version.version,
            key_id => version.key_id,
            protocols => version.protocols.0.join(", "),
            signed => version.shasums_signature.is_some(),
            // terraform installs it once it is signed and has a platform's binary.
            published => version.shasums_signature.is_some() && uploaded > 0,
            created => when(version.created_at),
            platforms => platforms
                .into_iter()
                .map(|p| minijinja::context! {
                    os => p.platform.os,
                    arch => p.platform.arch,
                    filename => p.platform.filename,
                    shasum => p.platform.shasum,
                    uploaded => p.platform.binary_key.is_some(),
                })
                .collect::<Vec<_>>(),
        });
    }
    let newest = order.first().cloned();
    let source = format!(
        "{}/{}/{}",
        state.urls.registry_host(),
        organization,
        view.provider.name
    );
    state.pages.render(
        StatusCode::OK,
        "app/registry_provider.html",
        minijinja::context! {
            session => session.view(),
            organization,
            name => view.provider.name.clone(),
            source,
            newest,
            versions => rows,
            more => total.saturating_sub(PROVIDER_VERSIONS_SHOWN),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ranked_by_semantic_versioning_newest_first() {
        let given = ["1.2.0", "1.10.0", "1.10.0-rc.1", "0.9.9", "2.0.0-beta"].map(String::from);
        assert_eq!(
            newest_first(given),
            ["2.0.0-beta", "1.10.0", "1.10.0-rc.1", "1.2.0", "0.9.9"]
        );
        assert!(newest_first(Vec::new()).is_empty());
    }
}
