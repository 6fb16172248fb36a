//! Pages of lists: the one way every list of the API reads a page and its total.
//!
//! TFE pages by number (`page[number]`, `page[size]`, `meta.pagination.total-count`), so a
//! page is an `OFFSET`. An offset walks every row it skips; walking full rows (with their
//! joins and per-row subqueries) made page 1,000 of 100,000 workspaces cost seconds. A page is
//! therefore read in two steps in one statement (a deferred join): the inner query walks only
//! the listed table's key in the list's order, which a covering index serves without touching
//! the rows, and the outer query builds the full rows of the page's keys alone. The total is a
//! `COUNT(*)` with the same conditions, which the same indexes answer from the index alone.
//! The keys may also be walked in another table that holds them in the list's order (a tag's
//! bindings carry their workspace's creation time): the page then reads only that table's
//! index.
//!
//! Pages past the middle of a list walk it from its end, in the reverse order, so that the
//! last page of 100,000 costs what the first does ([`Walk`]): the count is read first, to know
//! which end is nearer.
//!
//! Each list states its conditions once, as a closure pushing them into a [`QueryBuilder`]
//! (`sqlx::QueryBuilder`) after `WHERE`; [`fetch_page!`] pushes them into both statements (and,
//! when a store records query plans, into their `EXPLAIN`).

use std::sync::{Arc, Mutex};

use crate::model::PageRequest;

/// What a list reads: its table, the full row and its order.
pub(crate) struct Listing<'a> {
    /// `SELECT` and the full row's columns.
    pub select: &'a str,
    /// The listed table and its alias, as the conditions and the order name it (`workspaces w`).
    pub table: &'a str,
    /// Joins the full row needs beyond `table` (` LEFT JOIN ...`); empty if none.
    pub joins: &'a str,
    /// The key of `table` (`w.id`).
    pub key: &'a str,
    /// The list's order; it ends with the key, so that pages neither overlap nor skip.
    pub order: &'a str,
}

impl Listing<'_> {
    /// The page statement up to its conditions, its keys walked in `walked`'s table (this
    /// listing's own, or another holding the same keys in the same order).
    pub(crate) fn page_head_walking(&self, walked: &Listing<'_>) -> String {
        format!(
            "{} FROM (SELECT {} AS page_key FROM {} WHERE ",
            self.select, walked.key, walked.table
        )
    }

    /// The page statement's order, pushed after the conditions, before `LIMIT`: the list's,
    /// or its reverse for a walk from the end.
    pub(crate) fn page_order(&self, walk: &Walk) -> String {
        if walk.backward {
            format!(" ORDER BY {}", reverse_order(self.order))
        } else {
            format!(" ORDER BY {}", self.order)
        }
    }

    /// The rest of the page statement, after `OFFSET`.
    pub(crate) fn page_tail(&self) -> String {
        format!(
            ") page JOIN {} ON {} = page.page_key{} ORDER BY {}",
            self.table, self.key, self.joins, self.order
        )
    }

    /// The count statement up to its conditions.
    pub(crate) fn count_head(&self) -> String {
        format!("SELECT COUNT(*) FROM {} WHERE ", self.table)
    }
}

/// How a page's keys are read: `limit` of them after skipping `offset`, from the start of the
/// list, or from its end in the reverse order (the outer query puts the page back in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    pub backward: bool,
    pub offset: i64,
    pub limit: i64,
}

impl Walk {
    /// The shorter walk to `page` of a list of `total` rows: from the end when the page's
    /// middle lies past the list's.
    pub(crate) fn to(page: PageRequest, total: u64) -> Walk {
        Walk::after(page, total, 0)
    }

    /// The shorter walk to `page` of a list of `total` rows of which a condition leaves out
    /// the first `skipped` (a mark the page lies past, see [`super::page_marks`]).
    pub(crate) fn after(page: PageRequest, total: u64, skipped: u64) -> Walk {
        let skipped = i64::try_from(skipped).unwrap_or(i64::MAX);
        let total = i64::try_from(total)
            .unwrap_or(i64::MAX)
            .saturating_sub(skipped)
            .max(0);
        let size = i64::from(page.size);
        let offset = page.offset().saturating_sub(skipped);
        if offset >= total || offset.saturating_mul(2).saturating_add(size) <= total {
            return Walk {
                backward: false,
                offset,
                limit: size,
            };
        }
        let limit = size.min(total - offset);
        Walk {
            backward: true,
            offset: total - offset - limit,
            limit,
        }
    }
}

/// `order` (an `ORDER BY` list) reversed: each term's direction flipped (with its `NULLS`
/// placement, so that each database's default placement flips with it).
pub(crate) fn reverse_order(order: &str) -> String {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in order.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&order[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&order[start..]);
    terms
        .into_iter()
        .map(|term| {
            let term = term.trim();
            let (term, nulls) = match term.rsplit_once(" NULLS ") {
                Some((rest, "FIRST")) => (rest, " NULLS LAST"),
                Some((rest, "LAST")) => (rest, " NULLS FIRST"),
                _ => (term, ""),
            };
            let flipped = if let Some(rest) = term.strip_suffix(" DESC") {
                format!("{rest} ASC")
            } else if let Some(rest) = term.strip_suffix(" ASC") {
                format!("{rest} DESC")
            } else {
                format!("{term} DESC")
            };
            format!("{flipped}{nulls}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list statement and the plan the database chose for it (one line per plan node).
#[derive(Debug, Clone)]
pub struct QueryPlan {
    pub statement: String,
    pub plan: Vec<String>,
}

/// Where a store records the plans of its list statements (tests that guard the indexes).
pub type QueryPlans = Arc<Mutex<Vec<QueryPlan>>>;

/// Reads one page of `$listing` where `$conditions` hold (a closure pushing them into a
/// `QueryBuilder` after `WHERE`) and the number of all such rows, on the pool `$p` of
/// `$store`: evaluates to `StorageResult<Page<_>>`.
macro_rules! fetch_page {
    ($store:expr, $p:ident, $listing:expr, $conditions:expr, $page:expr) => {
        $crate::sql::pagination::fetch_page!($store, $p, $listing, $conditions, $page, None)
    };
    // `$known`: `Some(total)` when the caller knows the number of rows (a count kept by the
    // database), which then is not counted.
    ($store:expr, $p:ident, $listing:expr, $conditions:expr, $page:expr, $known:expr) => {{
        let conditions = $conditions;
        let listing: &$crate::sql::pagination::Listing<'_> = $listing;
        $crate::sql::pagination::fetch_page!(
            $store, $p, listing, count: &conditions, page: &conditions, walked: listing, $page,
            $known, 0
        )
    }};
    // The same conditions in two forms, when the cheapest plan for counting the rows is not
    // the cheapest for walking to a page of them; `$walked`: the listing whose table, key and
    // order the page's keys are walked in (`$listing` itself, or an index of the same rows in
    // the same order, which the page's conditions then name); `$skipped`: how many of the
    // first rows the page's conditions leave out (a mark, see `page_marks`), 0 if none.
    ($store:expr, $p:ident, $listing:expr, count: $count_conditions:expr,
     page: $page_conditions:expr, walked: $walked:expr, $page:expr, $known:expr,
     $skipped:expr) => {{
        let known: Option<u64> = $known;
        let listing: &$crate::sql::pagination::Listing<'_> = $listing;
        let walked: &$crate::sql::pagination::Listing<'_> = $walked;
        let count_conditions = $count_conditions;
        let page_conditions = $page_conditions;
        let page: $crate::model::PageRequest = $page;
        // `prefix`: "" to run the statement, the database's EXPLAIN to read its plan.
        let page_statement = |prefix: &str, walk: &$crate::sql::pagination::Walk| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "{prefix}{}",
                listing.page_head_walking(walked)
            ));
            page_conditions(&mut qb);
            qb.push(walked.page_order(walk))
                .push(" LIMIT ")
                .push_bind(walk.limit)
                .push(" OFFSET ")
                .push_bind(walk.offset)
                .push(listing.page_tail());
            qb
        };
        let count_statement = |prefix: &str| {
            let mut qb = sqlx::QueryBuilder::new(format!("{prefix}{}", listing.count_head()));
            count_conditions(&mut qb);
            qb
        };
        async {
            let total = match known {
                Some(total) => total,
                None => {
                    $crate::sql::pagination::record_plan!($store, $p, count_statement);
                    let total: i64 = count_statement("")
                        .build_query_scalar()
                        .fetch_one($p)
                        .await?;
                    $crate::sql::to_u64(total)
                }
            };
            let walk = $crate::sql::pagination::Walk::after(page, total, $skipped);
            let page_statement = |prefix: &str| page_statement(prefix, &walk);
            $crate::sql::pagination::record_plan!($store, $p, page_statement);
            let items = page_statement("").build_query_as().fetch_all($p).await?;
            $crate::StorageResult::Ok($crate::model::Page { items, total })
        }
        .await
    }};
}
pub(crate) use fetch_page;

/// When `$store` records query plans, `EXPLAIN`s the statement `$statement` (a closure from
/// a prefix to the `QueryBuilder` of the statement with that prefix) on the pool `$p`, with
/// its bound values, and keeps the plan; a list that is not paged calls it itself.
macro_rules! record_plan {
    ($store:expr, $p:ident, $statement:expr) => {
        if let Some(plans) = &$store.plans {
            use $crate::sql::pagination::Explain as _;
            let explain = $p.explain_prefix();
            let mut statement = $statement(explain);
            let rows = statement.build().fetch_all($p).await?;
            let plan = rows
                .iter()
                .map(|row| $p.plan_line(row))
                .collect::<Result<Vec<String>, _>>()?;
            plans
                .lock()
                .expect("query plan log")
                .push($crate::sql::pagination::QueryPlan {
                    statement: statement.sql()[explain.len()..].to_string(),
                    plan,
                });
        }
    };
}
pub(crate) use record_plan;

/// How each database shows the plan of a statement.
pub(crate) trait Explain {
    type Row;
    /// Put in front of a statement to read its plan instead of running it.
    fn explain_prefix(&self) -> &'static str;
    /// One node of the plan.
    fn plan_line(&self, row: &Self::Row) -> sqlx::Result<String>;
}

impl Explain for sqlx::PgPool {
    type Row = sqlx::postgres::PgRow;
    fn explain_prefix(&self) -> &'static str {
        "EXPLAIN "
    }
    fn plan_line(&self, row: &Self::Row) -> sqlx::Result<String> {
        sqlx::Row::try_get(row, 0)
    }
}

impl Explain for sqlx::SqlitePool {
    type Row = sqlx::sqlite::SqliteRow;
    fn explain_prefix(&self) -> &'static str {
        "EXPLAIN QUERY PLAN "
    }
    fn plan_line(&self, row: &Self::Row) -> sqlx::Result<String> {
        sqlx::Row::try_get(row, "detail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(number: u32, size: u32) -> PageRequest {
        PageRequest { number, size }
    }

    fn walk(backward: bool, offset: i64, limit: i64) -> Walk {
        Walk {
            backward,
            offset,
            limit,
        }
    }

    #[test]
    fn pages_past_the_middle_are_walked_from_the_end() {
        // 1,000 rows in pages of 100.
        assert_eq!(Walk::to(page(1, 100), 1_000), walk(false, 0, 100));
        assert_eq!(Walk::to(page(5, 100), 1_000), walk(false, 400, 100));
        assert_eq!(Walk::to(page(6, 100), 1_000), walk(true, 400, 100));
        assert_eq!(Walk::to(page(10, 100), 1_000), walk(true, 0, 100));
        // A short last page: its rows are the list's last ones.
        assert_eq!(Walk::to(page(10, 100), 950), walk(true, 0, 50));
        assert_eq!(Walk::to(page(9, 100), 950), walk(true, 50, 100));
        // Past the end: nothing, from the start.
        assert_eq!(Walk::to(page(11, 100), 1_000), walk(false, 1_000, 100));
        assert_eq!(Walk::to(page(1, 100), 0), walk(false, 0, 100));
        // One page holding everything.
        assert_eq!(Walk::to(page(1, 100), 40), walk(true, 0, 40));
    }

    #[test]
    fn every_walk_reads_the_rows_of_its_page() {
        for total in 0..40u64 {
            for size in 1..12u32 {
                for number in 1..12u32 {
                    let p = page(number, size);
                    let want: Vec<i64> = (p.offset()..p.offset() + i64::from(size))
                        .filter(|row| *row < total as i64)
                        .collect();
                    // The rows after a mark the page lies past, or the whole list.
                    let marks = [0, 1, 5, p.offset() as u64];
                    for skipped in marks.into_iter().filter(|s| *s <= p.offset() as u64) {
                        let rows = skipped as i64..total.max(skipped) as i64;
                        let w = Walk::after(p, total, skipped);
                        let mut got: Vec<i64> = if w.backward {
                            rows.rev()
                                .skip(w.offset as usize)
                                .take(w.limit as usize)
                                .collect()
                        } else {
                            rows.skip(w.offset as usize)
                                .take(w.limit as usize)
                                .collect()
                        };
                        got.sort();
                        assert_eq!(
                            got, want,
                            "total {total}, page {number} of {size}, {skipped} skipped"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn orders_reverse_term_by_term() {
        assert_eq!(
            reverse_order("w.created_at, w.id"),
            "w.created_at DESC, w.id DESC"
        );
        assert_eq!(
            reverse_order("s.created_at DESC, s.serial DESC"),
            "s.created_at ASC, s.serial ASC"
        );
        assert_eq!(
            reverse_order("a ASC NULLS LAST, b"),
            "a DESC NULLS FIRST, b DESC"
        );
        // Commas inside a term's parentheses are the term's.
        assert_eq!(
            reverse_order("(SELECT max(x, y) FROM t) IS NULL, (SELECT z FROM t) DESC, w.id"),
            "(SELECT max(x, y) FROM t) IS NULL DESC, (SELECT z FROM t) ASC, w.id DESC"
        );
    }
}
