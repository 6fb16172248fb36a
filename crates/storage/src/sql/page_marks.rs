//! Marks in an organization's long workspace list, so that a page deep in it costs what the
//! first does.
//!
//! A page is an `OFFSET` ([`super::pagination`]), and an offset walks every index entry it
//! skips: the middle page of 100,000 workspaces walked 50,000 (9-24 ms on PostgreSQL, even
//! from the nearer end). The key of every [`STRIDE`]-th workspace of the list (its creation
//! time and ID) is kept in memory; a page starts after the last mark before it, by an index
//! seek, and walks fewer than [`STRIDE`] entries from there.
//!
//! Marks are right only while the list is unchanged: they carry the list's *generation*, a
//! number the database raises with every workspace created or deleted in the organization
//! (migration 0047, beside the kept count, and read with it), and marks of another
//! generation are rebuilt, in one statement (a walk of the whole list, about three times the
//! cost of one middle page), before they are used. So every replica of the server sees a
//! change at once, and a list that changes between two deep pages costs one rebuild.
//!
//! PostgreSQL only: SQLite's middle page of 10,000 costs what its first does (its cost is in
//! building rows, not in walking the index), and its text timestamps would have to be bound
//! back byte for byte as stored for a mark's comparison to hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Rows between two marks: a page starting from a mark walks fewer than this many.
pub(crate) const STRIDE: u64 = 1_000;

/// Lists shorter than this have no marks: the nearer end is never far.
pub(crate) const MARKED_FROM: u64 = 4 * STRIDE;

/// At most this many organizations' marks are kept (a list of 100,000 has 100 marks of
/// about 60 bytes); past it, all are dropped and rebuilt as asked for.
const MAX_LISTS: usize = 1_000;

/// One list's key: the workspace's creation time and ID, its place in the default order.
pub(crate) type Key = (DateTime<Utc>, String);

/// The marks of one organization's list at one generation: `keys[i]` is the key of row
/// `(i + 1) * STRIDE - 1` (counting from 0), the last row of the `i + 1`-th stride.
#[derive(Debug, Clone)]
pub(crate) struct Marks {
    pub generation: i64,
    pub keys: Arc<Vec<Key>>,
}

impl Marks {
    /// The mark a page starting at row `offset` is read after, with the number of rows up
    /// to and including it (which the page's walk skips no more): the last mark before
    /// `offset`, none before the first stride ends.
    pub(crate) fn before(&self, offset: u64) -> Option<(&Key, u64)> {
        let strides = usize::try_from(offset / STRIDE).ok()?;
        let i = strides.checked_sub(1)?.min(self.keys.len().checked_sub(1)?);
        let rows = u64::try_from(i + 1).ok()? * STRIDE;
        Some((&self.keys[i], rows))
    }
}

/// The marks of the organizations whose long lists were paged, shared by every request of a
/// store.
#[derive(Debug, Default)]
pub(crate) struct PageMarks {
    lists: Mutex<HashMap<String, Marks>>,
}

impl PageMarks {
    /// The marks kept for `organization_id`'s list at `generation`, if any.
    pub(crate) fn current(&self, organization_id: &str, generation: i64) -> Option<Marks> {
        let lists = self.lists.lock().expect("page marks");
        lists
            .get(organization_id)
            .filter(|marks| marks.generation == generation)
            .cloned()
    }

    /// Keeps `marks` for `organization_id`'s list, unless newer ones are kept already (a
    /// request that read the list before a change finishing after one that read it after).
    pub(crate) fn keep(&self, organization_id: &str, marks: Marks) {
        let mut lists = self.lists.lock().expect("page marks");
        if lists
            .get(organization_id)
            .is_some_and(|kept| kept.generation > marks.generation)
        {
            return;
        }
        if lists.len() >= MAX_LISTS && !lists.contains_key(organization_id) {
            lists.clear();
        }
        lists.insert(organization_id.to_string(), marks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(n: usize) -> Marks {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        Marks {
            generation: 7,
            keys: Arc::new((0..n).map(|i| (at, format!("ws-{i}"))).collect()),
        }
    }

    #[test]
    fn a_page_starts_after_the_last_mark_before_it() {
        let m = marks(5); // rows 999, 1999, ..., 4999 of a list of 5,000 to 5,999
        assert_eq!(m.before(0), None);
        assert_eq!(
            m.before(999),
            None,
            "the first stride has no mark before it"
        );
        assert_eq!(m.before(1_000), Some((&m.keys[0], 1_000)));
        assert_eq!(m.before(1_999), Some((&m.keys[0], 1_000)));
        assert_eq!(m.before(2_000), Some((&m.keys[1], 2_000)));
        assert_eq!(m.before(5_500), Some((&m.keys[4], 5_000)));
        // Past the last mark (the list shrank under a stale generation, or a page past the
        // end): the last mark still bounds the walk.
        assert_eq!(m.before(50_000), Some((&m.keys[4], 5_000)));
        assert_eq!(marks(0).before(5_000), None);
    }

    #[test]
    fn only_marks_of_the_asked_generation_are_used() {
        let kept = PageMarks::default();
        kept.keep("org-a", marks(3));
        assert!(kept.current("org-a", 7).is_some());
        assert!(kept.current("org-a", 8).is_none(), "the list changed since");
        assert!(kept.current("org-b", 7).is_none(), "another organization's");
        let newer = Marks {
            generation: 9,
            ..marks(2)
        };
        kept.keep("org-a", newer);
        kept.keep("org-a", marks(3));
        assert_eq!(
            kept.current("org-a", 9).map(|m| m.keys.len()),
            Some(2),
            "older marks do not replace newer ones"
        );
    }

    #[test]
    fn marks_of_too_many_lists_are_dropped() {
        let kept = PageMarks::default();
        for i in 0..MAX_LISTS {
            kept.keep(&format!("org-{i}"), marks(1));
        }
        assert!(kept.current("org-0", 7).is_some());
        kept.keep("org-new", marks(1));
        assert!(kept.current("org-0", 7).is_none());
        assert!(kept.current("org-new", 7).is_some());
    }
}
