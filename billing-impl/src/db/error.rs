//! What can go wrong at the database, decided once, here: whether the database failed
//! (answered 503, and worth a retry later) or the statement did (a bug, answered 500), and
//! whether the connection it happened on can be used again.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A failure of a unit of database work.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// No connection could be had: none was free within the pool timeout, or PostgreSQL
    /// could not be reached.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The connection failed during the work (libpq reported it closed, or a command
    /// could not be sent): the connection is retired.
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// PostgreSQL gave up on the statement (its `statement_timeout`, or a serialization
    /// failure); the connection stays usable.
    #[error("statement cancelled: {0}")]
    Cancelled(String),
    /// The migrations could not be checked.
    #[error("migrations not readable: {0}")]
    Migrations(String),
    /// The statement itself failed: a bug, never the client's doing. `unclassified` when
    /// diesel knew no kind for it (see `note_elapsed`).
    #[error("query failed: {detail}")]
    Query { detail: String, unclassified: bool },
    /// The unit of work failed outside the database (it panicked).
    #[error("database work failed: {0}")]
    Work(String),
}

impl DbError {
    /// Whether retrying later may succeed: the database, not the statement, failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Unreachable(_)
                | DbError::ConnectionLost(_)
                | DbError::Cancelled(_)
                | DbError::Migrations(_)
        )
    }

    /// Refines an unclassified failure of a statement that ran at least `statement_timeout`:
    /// PostgreSQL cancelled it. diesel 2.3 classifies PostgreSQL's errors by SQLSTATE into
    /// `DatabaseErrorKind` (class 08, connection exceptions, as `ClosedConnection`) but does
    /// not expose the SQLSTATE itself, and a cancellation (57014) is among the `Unknown`
    /// ones; the time it took tells it apart without reading the message text.
    pub(super) fn note_elapsed(&mut self, elapsed: Duration, statement_timeout: Duration) {
        if let DbError::Query {
            detail,
            unclassified: true,
        } = self
            && elapsed >= statement_timeout
        {
            *self = DbError::Cancelled(format!(
                "after {} ms (statement_timeout): {detail}",
                elapsed.as_millis()
            ));
        }
    }
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | DieselError::BrokenTransactionManager => DbError::ConnectionLost(error.to_string()),
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                DbError::Cancelled(info.message().to_owned())
            }
            other => DbError::Query {
                unclassified: matches!(
                    other,
                    DieselError::DatabaseError(DatabaseErrorKind::Unknown, _)
                ),
                detail: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_connection_is_lost_and_a_constraint_is_the_query() {
        let closed = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection".to_owned()),
        );
        assert!(matches!(DbError::from(closed), DbError::ConnectionLost(_)));
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_owned()),
        );
        let error = DbError::from(unique);
        assert!(matches!(error, DbError::Query { .. }) && !error.is_unavailable());
    }

    #[test]
    fn an_unclassified_failure_at_the_statement_timeout_is_a_cancellation() {
        let unknown = || {
            DbError::from(DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("any text".to_owned()),
            ))
        };
        let limit = Duration::from_millis(100);
        let mut slow = unknown();
        slow.note_elapsed(Duration::from_millis(101), limit);
        assert!(matches!(slow, DbError::Cancelled(_)));
        let mut quick = unknown();
        quick.note_elapsed(Duration::from_millis(3), limit);
        assert!(matches!(quick, DbError::Query { .. }));
    }
}
