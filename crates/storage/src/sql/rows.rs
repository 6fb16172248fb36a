//! Rows decoded by the position of their columns, for the records lists read by the hundred.
//!
//! sqlx's derived `FromRow` finds each column by its name (a hash lookup) and checks its type
//! against the field's (on PostgreSQL, against every type the field accepts) for every value
//! of every row: three quarters of decoding a page of 100 workspaces (docs/benchmarks.md,
//! twelfth and fifteenth rounds). A record declared with [`from_row_by_position!`] is read
//! column by column in its fields' order instead, which every statement reading it must
//! select in: debug builds (every test) check each column's name and type, release builds
//! take the values as they come.

use sqlx::{ColumnIndex, Decode, Row, Type};

/// The value of column `index` of `row`, which the record's field `field` reads: checked in
/// debug builds to be that column and of a type the field accepts.
#[inline]
pub(crate) fn column<'r, R, T>(row: &'r R, index: usize, field: &str) -> Result<T, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    if cfg!(debug_assertions) {
        use sqlx::Column as _;
        let selected = row.columns().get(index).map(|c| c.name());
        assert_eq!(
            selected,
            Some(field),
            "column {index} of the statement is not the record's field `{field}`"
        );
        return row.try_get(index);
    }
    row.try_get_unchecked(index)
}

/// Implements `sqlx::FromRow` for the record `$record` on both databases, reading the fields
/// listed (all of them, in the order its statements select them) by position (see
/// [`column`]).
macro_rules! from_row_by_position {
    ($record:ident { $($field:ident),+ $(,)? }) => {
        $crate::sql::rows::from_row_by_position!(@row sqlx::postgres::PgRow, $record { $($field),+ });
        $crate::sql::rows::from_row_by_position!(@row sqlx::sqlite::SqliteRow, $record { $($field),+ });
    };
    (@row $row:ty, $record:ident { $($field:ident),+ }) => {
        impl<'r> sqlx::FromRow<'r, $row> for $record {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                let mut index = 0;
                let mut next = || {
                    index += 1;
                    index - 1
                };
                Ok($record {
                    $($field: $crate::sql::rows::column(row, next(), stringify!($field))?,)+
                })
            }
        }
    };
}
pub(crate) use from_row_by_position;

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    #[derive(Debug, PartialEq)]
    struct Pair {
        name: String,
        size: i64,
    }
    from_row_by_position!(Pair { name, size });

    async fn pool() -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn reads_the_fields_in_the_order_selected() {
        let pair: Pair = sqlx::query_as("SELECT 'otter' AS name, 7 AS size")
            .fetch_one(&pool().await)
            .await
            .unwrap();
        assert_eq!(
            pair,
            Pair {
                name: "otter".into(),
                size: 7
            }
        );
    }

    #[tokio::test]
    #[should_panic(expected = "is not the record's field `name`")]
    async fn a_statement_selecting_another_order_fails_in_tests() {
        let _: Result<Pair, _> = sqlx::query_as("SELECT 7 AS size, 'otter' AS name")
            .fetch_one(&pool().await)
            .await;
    }

    #[tokio::test]
    async fn a_column_of_another_type_is_an_error_in_tests() {
        let read: Result<Pair, _> = sqlx::query_as("SELECT 'otter' AS name, 'seven' AS size")
            .fetch_one(&pool().await)
            .await;
        assert!(read.is_err(), "{read:?}");
    }
}
