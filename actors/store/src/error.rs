//! The store's error: what went wrong, and whether the database itself is unavailable (which
//! callers answer differently from a write that is at fault).

use sea_orm::{DbErr, RuntimeErr};
use thiserror::Error;

use crate::SealError;

/// What a refusal says when the database, not the request, is at fault (the audit writer says
/// it, and the gateway reads it to tell the client a retry is worth it).
pub const DB_UNAVAILABLE: &str = "the database cannot be reached or written";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{what} {name:?} not found")]
    NotFound { what: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A stored secret that does not open with this control plane's key.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Too much is under way (sign-ins waiting at the identity provider): try again later.
    #[error("{0}")]
    Busy(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The database could not be reached (down, restarting, out of connections): nothing was
    /// written, and trying the same thing again at once would fail the same way.
    /// So is a database that cannot take writes (a full disk, shutting down, an I/O error): the
    /// write is not at fault, so it is not tried again alone.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Db(DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => true,
            Self::Db(DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) => {
                sqlx_unavailable(e)
            }
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::{Error, postgres::PgDatabaseError};
    match e {
        Error::Io(_) | Error::Tls(_) | Error::Protocol(_) | Error::PoolTimedOut | Error::PoolClosed => true,
        Error::WorkerCrashed => true,
        Error::Database(d) => match d.try_downcast_ref::<PgDatabaseError>() {
            // PostgreSQL's classes: 08 connection, 53 insufficient resources (53100 disk full),
            // 57P shutting down, 58 system (58030 I/O error).
            Some(pg) => ["08", "53", "57P", "58"].iter().any(|class| pg.code().starts_with(class)),
            // SQLite's result codes (an extended one keeps the primary in its low byte): BUSY,
            // LOCKED, IOERR, FULL, CANTOPEN.
            None => {
                d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
            }
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};

    use super::*;

    /// A real SQLite database that fills up: its writes fail as "unavailable", while a write
    /// that is itself wrong does not.
    #[tokio::test]
    async fn a_full_database_is_unavailable_and_a_bad_write_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("full.db").display());
        // One connection: PRAGMA max_page_count holds for the connection that sets it.
        let mut options = ConnectOptions::new(url);
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").await.unwrap();
        let bad = db.execute_unprepared("INSERT INTO t (id, v) VALUES (1, NULL)").await.unwrap_err();
        assert!(!StoreError::from(bad).is_unavailable());
        db.execute_unprepared("PRAGMA max_page_count = 3").await.unwrap();
        let full = db
            .execute_unprepared("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 1000) INSERT INTO t (v) SELECT hex(randomblob(200)) FROM n")
            .await
            .unwrap_err();
        let e = StoreError::from(full);
        assert!(e.is_unavailable(), "{e}");
        assert!(e.to_string().contains("full"), "{e}");
    }
}
