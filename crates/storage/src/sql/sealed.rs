//! The database's encrypted columns, in one list ([`SEALED_COLUMNS`]), and what sealing them
//! again with the newest key takes: reading a column a page at a time in key order, and
//! replacing a value only while it is still the one read, so a server writing the row in
//! the meantime (with the newest key already) wins.

use sqlx::Row;

use super::{on_pool, SqlStore};
use crate::StorageResult;

/// One encrypted column, and the columns of its table's primary key.
#[derive(Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// The key: a text column, and for a composite key an integer column after it.
    pub key: &'static str,
    pub key_number: Option<&'static str>,
}

/// Every column holding a Fernet token (a test holds this list to the migrations).
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "variables",
        column: "value_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "state_version_outputs",
        column: "value_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "runs",
        column: "variables_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "log_chunks",
        column: "ciphertext",
        key: "phase_id",
        key_number: Some("\"offset\""),
    },
    SealedColumn {
        table: "ssh_keys",
        column: "value_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "organization_sso_configurations",
        column: "oidc_client_secret_ciphertext",
        key: "organization_id",
        key_number: None,
    },
    SealedColumn {
        table: "notification_configurations",
        column: "token_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "smtp_settings",
        column: "password_ciphertext",
        key: "id",
        key_number: None,
    },
    SealedColumn {
        table: "run_tasks",
        column: "hmac_key_ciphertext",
        key: "id",
        key_number: None,
    },
];

/// A row's key in a [`SealedColumn`]'s table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    pub text: String,
    pub number: Option<i64>,
}

impl SealedColumn {
    fn key_columns(&self) -> String {
        match self.key_number {
            Some(number) => format!("{}, {number}", self.key),
            None => self.key.to_string(),
        }
    }

    /// `key = $first` (and the number), parameters from `$first`.
    fn key_is(&self, first: usize) -> String {
        match self.key_number {
            Some(number) => format!("{} = ${first} AND {number} = ${}", self.key, first + 1),
            None => format!("{} = ${first}", self.key),
        }
    }
}

impl SqlStore {
    /// Up to `limit` rows' keys and tokens of `column` after `after`, in key order.
    pub async fn sealed_page(
        &self,
        column: &SealedColumn,
        after: Option<&RowKey>,
        limit: i64,
    ) -> StorageResult<Vec<(RowKey, String)>> {
        let keys = column.key_columns();
        let (table, name) = (column.table, column.column);
        let after_clause = match (after, column.key_number) {
            (None, _) => String::new(),
            (Some(_), None) => format!("AND {keys} > $2"),
            (Some(_), Some(_)) => format!("AND ({keys}) > ($2, $3)"),
        };
        let sql = format!(
            "SELECT {keys}, {name} FROM {table} WHERE {name} IS NOT NULL {after_clause} \
             ORDER BY {keys} LIMIT $1"
        );
        let rows = on_pool!(&self.pool, |p| {
            let mut query = sqlx::query(&sql).bind(limit);
            if let Some(after) = after {
                query = query.bind(&after.text);
                if column.key_number.is_some() {
                    query = query.bind(after.number);
                }
            }
            let rows = query.fetch_all(p).await?;
            rows.iter()
                .map(|row| {
                    let number = match column.key_number {
                        Some(_) => Some(row.try_get::<i64, _>(1)?),
                        None => None,
                    };
                    let token: String = row.try_get(if number.is_some() { 2 } else { 1 })?;
                    Ok((
                        RowKey {
                            text: row.try_get(0)?,
                            number,
                        },
                        token,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        Ok(rows)
    }

    /// Replaces the token of one row if it is still `old`; false if the row changed or went.
    pub async fn replace_sealed(
        &self,
        column: &SealedColumn,
        key: &RowKey,
        old: &str,
        new: &str,
    ) -> StorageResult<bool> {
        let sql = format!(
            "UPDATE {} SET {name} = $1 WHERE {} AND {name} = $2",
            column.table,
            column.key_is(3),
            name = column.column
        );
        let changed = on_pool!(&self.pool, |p| {
            let mut query = sqlx::query(&sql).bind(new).bind(old).bind(&key.text);
            if column.key_number.is_some() {
                query = query.bind(key.number);
            }
            query.execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns that hold tokens are named for it: every `*ciphertext*` column any migration
    /// creates or adds, of either database, must be in the list, or rotation would leave it
    /// sealed with a key about to be removed.
    #[test]
    fn every_encrypted_column_of_the_migrations_is_listed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for dialect in ["sqlite", "postgres"] {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(root.join(dialect)).unwrap() {
                let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                let mut table = String::new();
                for line in sql.lines() {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    if let ["CREATE", "TABLE", name, ..] | ["ALTER", "TABLE", name, ..] = words[..]
                    {
                        table = name.trim_matches('(').to_string();
                    }
                    let column = words.iter().find(|w| w.contains("ciphertext"));
                    if let (Some(column), false) = (column, line.trim_start().starts_with("--")) {
                        found.push((table.clone(), column.trim_matches(',').to_string()));
                    }
                }
            }
            assert!(found.len() >= SEALED_COLUMNS.len(), "{dialect}: {found:?}");
            for (table, column) in found {
                assert!(
                    SEALED_COLUMNS
                        .iter()
                        .any(|c| c.table == table && c.column == column),
                    "{dialect}: {table}.{column} holds tokens but is not in SEALED_COLUMNS"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_token_is_replaced_only_while_it_is_the_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let chunks = SEALED_COLUMNS
            .iter()
            .find(|c| c.table == "log_chunks")
            .unwrap();
        // Rows of a composite key, inserted beside the schema's foreign keys.
        on_pool!(&store.pool, |p| {
            let mut connection = p.acquire().await.unwrap();
            sqlx::query("PRAGMA foreign_keys = OFF")
                .execute(&mut *connection)
                .await
                .unwrap();
            for (phase, offset) in [("p1", 0), ("p1", 10), ("p2", 0)] {
                sqlx::query(
                    "INSERT INTO log_chunks (phase_id, \"offset\", ciphertext) VALUES ($1, $2, $3)",
                )
                .bind(phase)
                .bind(offset as i64)
                .bind(format!("old-{phase}-{offset}"))
                .execute(&mut *connection)
                .await
                .unwrap();
            }
        });
        let first = store.sealed_page(chunks, None, 2).await.unwrap();
        assert_eq!(first.len(), 2);
        let rest = store
            .sealed_page(chunks, Some(&first[1].0), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1, "the page after the second row");
        assert_eq!(rest[0].0.text, "p2");
        let (key, token) = &first[1];
        assert!(store
            .replace_sealed(chunks, key, token, "new")
            .await
            .unwrap());
        assert!(
            !store
                .replace_sealed(chunks, key, token, "newer")
                .await
                .unwrap(),
            "the row changed since it was read"
        );
        let now = store.sealed_page(chunks, None, 10).await.unwrap();
        assert_eq!(now[1].1, "new");
        assert_eq!(now[0].1, "old-p1-0", "other rows untouched");
    }
}
