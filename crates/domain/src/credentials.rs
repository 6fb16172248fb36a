//! What a replica keeps of credentials between requests: the tokens it has seen and what they
//! stand for, its users' teams in each organization, organizations' single sign-on
//! configurations and the organizations themselves. Every request reads them again from the
//! database otherwise (five to ten statements before a handler starts its own work).
//!
//! Each entry is stamped with the credential epoch it was read at: a number the database
//! advances, in the same transaction, with every change to tokens (but their use), users,
//! organizations, teams, memberships and single sign-on (migration 0043's triggers). A request
//! reads the epoch once, as it authenticates ([`Caller::credentials_epoch`]), and uses only
//! entries of that epoch: a token revoked, a user suspended or a member removed on any replica
//! is refused by every replica from the first request that starts after the change commits.
//! Nothing is kept of what was not found, and entries are read after the epoch they are
//! stamped with, so an entry is never older than its stamp.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use terrace_storage::model::{Organization, SsoConfiguration, Team, Token};

use crate::{Caller, DomainResult, Principal, Services};

/// Entries each shelf holds at most; a full shelf starts again empty (entries of older epochs
/// are dead weight anyway).
const SHELF_CAPACITY: usize = 10_000;

/// The credentials of one replica.
#[derive(Default)]
pub(crate) struct Credentials {
    /// By the token's secret hash: the token and what it stands for.
    pub tokens: Shelf<String, (Token, Principal)>,
    /// By (organization, user): the user's teams there, `None` for an outsider.
    pub member_teams: Shelf<(String, String), Option<Vec<Team>>>,
    /// By organization: its single sign-on configuration, if any.
    pub sso_configurations: Shelf<String, Option<SsoConfiguration>>,
    /// By ID and by name (only organizations found).
    pub organizations_by_id: Shelf<String, Option<Organization>>,
    pub organizations_by_name: Shelf<String, Option<Organization>>,
}

/// Values of one kind, each with the epoch it was read at.
pub(crate) struct Shelf<K, V> {
    entries: Mutex<HashMap<K, (i64, V)>>,
}

impl<K, V> Default for Shelf<K, V> {
    fn default() -> Self {
        Shelf {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Shelf<K, V> {
    /// The value of `key` read at `epoch`, if one was kept.
    pub fn get(&self, key: &K, epoch: i64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, value)| value.clone())
    }

    /// The value kept for `key` and the epoch it was read at, whichever that was.
    pub fn latest(&self, key: &K) -> Option<(i64, V)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).cloned()
    }

    /// Keeps `value`, read after `epoch` was.
    pub fn put(&self, key: K, epoch: i64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SHELF_CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (epoch, value));
    }
}

/// Reads through a shelf: the value kept at the caller's epoch, or the one `read` finds,
/// kept for the next request of that epoch (unless `keep` refuses it). Callers without an
/// epoch always read.
async fn through<K, V, F>(
    shelf: &Shelf<K, V>,
    caller: &Caller,
    key: impl FnOnce() -> K,
    keep: impl FnOnce(&V) -> bool,
    read: F,
) -> DomainResult<V>
where
    K: Eq + Hash,
    V: Clone,
    F: std::future::Future<Output = DomainResult<V>>,
{
    let Some(epoch) = caller.credentials_epoch else {
        return read.await;
    };
    let key = key();
    if let Some(value) = shelf.get(&key, epoch) {
        return Ok(value);
    }
    let value = read.await?;
    if keep(&value) {
        shelf.put(key, epoch, value.clone());
    }
    Ok(value)
}

impl Services {
    /// The user's teams in the organization; `None` when the user is not a member.
    pub(crate) async fn member_teams(
        &self,
        caller: &Caller,
        org_id: &str,
        user_id: &str,
    ) -> DomainResult<Option<Vec<Team>>> {
        through(
            &self.credentials.member_teams,
            caller,
            || (org_id.to_string(), user_id.to_string()),
            |_| true,
            async { Ok(self.store.member_teams(org_id, user_id).await?) },
        )
        .await
    }

    /// The organization's single sign-on configuration, as the caller's epoch knows it.
    pub(crate) async fn sso_configuration_for(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> DomainResult<Option<SsoConfiguration>> {
        through(
            &self.credentials.sso_configurations,
            caller,
            || org_id.to_string(),
            |_| true,
            async { Ok(self.store.sso_configuration(org_id).await?) },
        )
        .await
    }

    /// The organization named `name`, if there is one (not found is never kept: a new
    /// organization of that name is found at once).
    pub(crate) async fn organization_named(
        &self,
        caller: &Caller,
        name: &str,
    ) -> DomainResult<Option<Organization>> {
        through(
            &self.credentials.organizations_by_name,
            caller,
            || name.to_string(),
            Option::is_some,
            async { Ok(self.store.organization_by_name(name).await?) },
        )
        .await
    }

    /// The organization `id`, if there is one.
    pub(crate) async fn organization_with_id(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<Option<Organization>> {
        through(
            &self.credentials.organizations_by_id,
            caller,
            || id.to_string(),
            Option::is_some,
            async { Ok(self.store.organization_by_id(id).await?) },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_only_its_own_epoch() {
        let shelf: Shelf<String, u32> = Shelf::default();
        assert_eq!(shelf.get(&"a".into(), 1), None);
        shelf.put("a".into(), 1, 10);
        assert_eq!(shelf.get(&"a".into(), 1), Some(10));
        assert_eq!(shelf.get(&"a".into(), 2), None, "a newer epoch");
        assert_eq!(shelf.get(&"a".into(), 0), None, "an older epoch");
        shelf.put("a".into(), 2, 20);
        assert_eq!(shelf.get(&"a".into(), 2), Some(20));
        assert_eq!(shelf.get(&"a".into(), 1), None, "replaced");
    }

    #[test]
    fn a_full_shelf_starts_again() {
        let shelf: Shelf<usize, usize> = Shelf::default();
        for i in 0..SHELF_CAPACITY {
            shelf.put(i, 1, i);
        }
        shelf.put(0, 1, 7);
        assert_eq!(shelf.get(&1, 1), Some(1), "replacing a key keeps the rest");
        shelf.put(SHELF_CAPACITY, 1, 0);
        assert_eq!(
            shelf.get(&1, 1),
            None,
            "a new key beyond the capacity empties it"
        );
        assert_eq!(shelf.get(&SHELF_CAPACITY, 1), Some(0));
    }
}
