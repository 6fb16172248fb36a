//! Query parameters: JSON:API pagination, `include`, and the bracketed filters of the TFE API
//! (`search[name]`, `filter[tagged][0][key]`, ...). Unknown parameters are ignored, as the
//! CLI sends some that mean nothing here.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use terrace_storage::model::PageRequest;

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// How lists document their page parameters (parsed by [`Params::page`]): any number a
/// `u32` holds is accepted (0 reads as 1, sizes above 100 as 100), anything else is a 400.
/// utoipa would label a `u32` `int32`, which promises less than the server accepts.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
pub struct PageParams {
    /// Page number, from 1.
    #[param(rename = "page[number]", value_type = Option<u64>, maximum = 4294967295.0)]
    number: Option<u32>,
    /// Items per page: 20 by default, at most 100.
    #[param(rename = "page[size]", value_type = Option<u64>, maximum = 4294967295.0)]
    size: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Params::parse(parts.uri.query().unwrap_or(""))
    }
}

impl Params {
    pub fn parse(query: &str) -> Result<Params, ApiError> {
        let pairs = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        Ok(Params { pairs })
    }

    /// The first non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, even an empty one: for parameters where empty is not unset
    /// but wrong (numbers, times).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Comma-separated values of `key`, across repeats.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// [`Params::list`], each value parsed; a value that does not parse is a 400 naming `key`.
    pub fn parsed_list<T>(&self, key: &str) -> Result<Vec<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.list(key)
            .iter()
            .map(|v| {
                v.parse()
                    .map_err(|e| ApiError::bad_request(format!("{key}: {e}")))
            })
            .collect()
    }

    pub fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "{key} must be true or false, got {v:?}"
                ))),
            })
            .transpose()
    }

    /// The requested page, with defaults (page 1, 20 items; at most 100).
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(self.explicit_page()?.unwrap_or(PageRequest {
            number: 1,
            size: DEFAULT_PAGE_SIZE,
        }))
    }

    /// The requested page, or `None` when the client named no page at all (some lists then
    /// return everything, as HCP Terraform does).
    pub fn explicit_page(&self) -> Result<Option<PageRequest>, ApiError> {
        let number = self.number("page[number]")?;
        let size = self.number("page[size]")?;
        if number.is_none() && size.is_none() {
            return Ok(None);
        }
        Ok(Some(PageRequest {
            number: number.unwrap_or(1).max(1),
            size: size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        }))
    }

    /// Unlike a filter, an empty page parameter is not "unset" but a wrong number.
    pub fn number(&self, key: &str) -> Result<Option<u32>, ApiError> {
        self.raw(key)
            .map(|v| {
                v.parse::<u32>().map_err(|_| {
                    ApiError::bad_request(format!("{key} must be a positive number, got {v:?}"))
                })
            })
            .transpose()
    }

    /// The `include` paths, with `-` and `_` spellings made equal.
    pub fn includes(&self) -> Includes {
        Includes(
            self.list("include")
                .into_iter()
                .map(|i| i.replace('-', "_"))
                .collect(),
        )
    }

    /// The `include` paths when each is one the route knows (`allowed`, kebab-case); an
    /// unknown one is a 400 naming it, as TFE answers.
    pub fn includes_of(&self, allowed: &[&str]) -> Result<Includes, ApiError> {
        let includes = self.includes();
        let known = Includes::of(allowed);
        match includes.0.iter().find(|i| !known.has(i)) {
            Some(unknown) => Err(ApiError::bad_request(format!(
                "Invalid include parameter: {unknown} (known: {})",
                allowed.join(", ")
            ))),
            None => Ok(includes),
        }
    }

    /// `filter[tagged][N][key]` / `filter[tagged][N][value]` pairs, in index order.
    pub fn tagged(&self) -> Vec<(String, Option<String>)> {
        let mut found: std::collections::BTreeMap<u32, (Option<String>, Option<String>)> =
            Default::default();
        for (key, value) in &self.pairs {
            let Some(rest) = key.strip_prefix("filter[tagged][") else {
                continue;
            };
            let Some((index, field)) = rest.split_once("][") else {
                continue;
            };
            let Ok(index) = index.parse::<u32>() else {
                continue;
            };
            let entry = found.entry(index).or_default();
            match field {
                "key]" => entry.0 = Some(value.clone()),
                "value]" => entry.1 = Some(value.clone()),
                _ => {}
            }
        }
        found
            .into_values()
            .filter_map(|(key, value)| Some((key?, value.filter(|v| !v.is_empty()))))
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Includes(BTreeSet<String>);

impl Includes {
    /// A fixed set (responses that always include something).
    pub fn of(names: &[&str]) -> Includes {
        Includes(names.iter().map(|n| n.replace('-', "_")).collect())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_cli_sends() {
        let p = Params::parse(
            "TagBindings=%7B+app+web%7D&filter%5Btagged%5D%5B0%5D%5Bkey%5D=app&filter%5Btagged%5D%5B0%5D%5Bvalue%5D=web\
             &filter%5Btagged%5D%5B1%5D%5Bkey%5D=env&search%5Btags%5D=app%2Cenv&include=workspace%2Cplan&include=",
        )
        .unwrap();
        assert_eq!(
            p.tagged(),
            vec![("app".into(), Some("web".into())), ("env".into(), None)]
        );
        assert_eq!(p.list("search[tags]"), vec!["app", "env"]);
        assert!(p.includes().has("workspace") && p.includes().has("plan"));
        assert_eq!(p.explicit_page().unwrap(), None);
    }

    #[test]
    fn unknown_includes_are_refused() {
        let p = Params::parse("include=user,organization-memberships").unwrap();
        assert!(p.includes_of(&["user", "organization_memberships"]).is_ok());
        let err = p.includes_of(&["user"]).unwrap_err();
        assert!(format!("{err:?}").contains("Invalid include parameter: organization_memberships"));
    }

    #[test]
    fn pages_default_and_clamp() {
        let p = Params::parse("page%5Bsize%5D=1000&page%5Bnumber%5D=0").unwrap();
        assert_eq!(
            p.page().unwrap(),
            PageRequest {
                number: 1,
                size: 100
            }
        );
        assert!(Params::parse("page%5Bnumber%5D=x").unwrap().page().is_err());
        assert!(Params::parse("page%5Bsize%5D=").unwrap().page().is_err());
        assert_eq!(
            Params::default().page().unwrap(),
            PageRequest {
                number: 1,
                size: 20
            }
        );
    }
}
