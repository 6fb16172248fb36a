//! Pages of lists: the one way every list of the API reads a page and its total.
//!
//! TFE pages by number (`page[number]`, `page[size]`, `meta.pagination.total-count`), so a
//! page is an `OFFSET`. An offset walks every row it skips; walking full rows (with their
//! joins and per-row subqueries) made page 1,000 of 100,000 workspaces cost seconds. A page is
//! therefore read in two steps in one statement (a deferred join): the inner query walks only
//! the listed table's key in the list's order, which a covering index serves without touching
//! the rows, and the outer query builds the full rows of the page's keys alone. The total is a
//! `COUNT(*)` with the same conditions, which the same indexes answer from the index alone.
//!
//! Each list states its conditions once, as a closure pushing them into a [`QueryBuilder`]
//! (`sqlx::QueryBuilder`) after `WHERE`; [`fetch_page!`] pushes them into both statements (and,
//! when a store records query plans, into their `EXPLAIN`).

use std::sync::{Arc, Mutex};

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
    /// The page statement up to its conditions.
    pub(crate) fn page_head(&self) -> String {
        format!(
            "{} FROM (SELECT {} AS page_key FROM {} WHERE ",
            self.select, self.key, self.table
        )
    }

    /// The page statement's order, pushed after the conditions, before `LIMIT`.
    pub(crate) fn page_order(&self) -> String {
        format!(" ORDER BY {}", self.order)
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
    ($store:expr, $p:ident, $listing:expr, $conditions:expr, $page:expr) => {{
        let listing: &$crate::sql::pagination::Listing<'_> = $listing;
        let conditions = $conditions;
        let page: $crate::model::PageRequest = $page;
        // `prefix`: "" to run the statement, the database's EXPLAIN to read its plan.
        let page_statement = |prefix: &str| {
            let mut qb = sqlx::QueryBuilder::new(format!("{prefix}{}", listing.page_head()));
            conditions(&mut qb);
            qb.push(listing.page_order())
                .push(" LIMIT ")
                .push_bind(i64::from(page.size))
                .push(" OFFSET ")
                .push_bind(page.offset())
                .push(listing.page_tail());
            qb
        };
        let count_statement = |prefix: &str| {
            let mut qb = sqlx::QueryBuilder::new(format!("{prefix}{}", listing.count_head()));
            conditions(&mut qb);
            qb
        };
        async {
            $crate::sql::pagination::record_plan!($store, $p, page_statement);
            $crate::sql::pagination::record_plan!($store, $p, count_statement);
            let items = page_statement("").build_query_as().fetch_all($p).await?;
            let total: i64 = count_statement("")
                .build_query_scalar()
                .fetch_one($p)
                .await?;
            $crate::StorageResult::Ok($crate::model::Page {
                items,
                total: $crate::sql::to_u64(total),
            })
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
