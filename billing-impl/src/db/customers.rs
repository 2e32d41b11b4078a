//! Queries on `customers`, and the keys of customers remembered between requests.

use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};
use moka::sync::Cache;

use super::schema::customers;

/// The internal key of the customer the contract names by `id_type` and `code`.
pub fn find_key(conn: &mut PgConnection, id_type: &str, code: i64) -> QueryResult<Option<i64>> {
    customers::table
        .filter(customers::id_type.eq(id_type))
        .filter(customers::code.eq(code))
        .select(customers::customer_id)
        .first(conn)
        .optional()
}

/// The key of the customer named `id_type` and `code`, and the version of what the API
/// answers of it; `None` when there is no such customer.
pub fn find_versioned(
    conn: &mut PgConnection,
    id_type: &str,
    code: i64,
) -> QueryResult<Option<(i64, i64)>> {
    customers::table
        .filter(customers::id_type.eq(id_type))
        .filter(customers::code.eq(code))
        .select((customers::customer_id, customers::data_version))
        .first(conn)
        .optional()
}

/// The version of what the API answers of the customer whose key is `customer_id`.
pub fn version(conn: &mut PgConnection, customer_id: i64) -> QueryResult<Option<i64>> {
    customers::table
        .find(customer_id)
        .select(customers::data_version)
        .first(conn)
        .optional()
}

/// Customers' keys by the contract's names (`idType`, `id`), remembered so that a page of
/// bills is read by the key alone: PostgreSQL then does not look the customer up on every
/// request. A key never changes while its customer exists. A remembered key goes stale
/// only when its customer is deleted (its invoices go with it, `ON DELETE CASCADE`), or
/// deleted and created again under the same name with a new key; either way a page read by
/// it is empty, and an empty page is answered only once `look_up` has checked the key.
#[derive(Clone)]
pub struct CustomerKeys(Cache<(String, i64), i64>);

impl CustomerKeys {
    /// Room for `capacity` keys; the least used go first.
    pub fn new(capacity: u64) -> Self {
        Self(Cache::new(capacity))
    }

    /// The key remembered for the customer named `id_type` and `code`, if any.
    pub fn remembered(&self, id_type: &str, code: i64) -> Option<i64> {
        self.0.get(&(id_type.to_owned(), code))
    }

    /// The key and the version of the customer named `id_type` and `code`, by its
    /// remembered key when there is one (and it is not stale); `None` when there is no such
    /// customer.
    pub fn versioned(
        &self,
        conn: &mut PgConnection,
        id_type: &str,
        code: i64,
    ) -> QueryResult<Option<(i64, i64)>> {
        if let Some(key) = self.remembered(id_type, code)
            && let Some(version) = version(conn, key)?
        {
            return Ok(Some((key, version)));
        }
        let found = find_versioned(conn, id_type, code)?;
        self.remember(id_type, code, found.map(|(key, _)| key));
        Ok(found)
    }

    /// The key the database has now for the customer named `id_type` and `code`, then
    /// remembered; `None`, and forgotten, when there is no such customer.
    pub fn look_up(
        &self,
        conn: &mut PgConnection,
        id_type: &str,
        code: i64,
    ) -> QueryResult<Option<i64>> {
        let key = find_key(conn, id_type, code)?;
        self.remember(id_type, code, key);
        Ok(key)
    }

    /// Remembers `key` as the key of the customer named `id_type` and `code`, or forgets
    /// the name when the database has no such customer.
    fn remember(&self, id_type: &str, code: i64, key: Option<i64>) {
        let name = (id_type.to_owned(), code);
        match key {
            Some(key) => self.0.insert(name, key),
            None => self.0.invalidate(&name),
        }
    }
}

// `billing import`: its staged rows of this table, checked and written (`db::staged`).

use super::staged::{Superseded, Written};

/// Removes from the staged customers (`import_customers`) the rows whose key a later line of
/// the batch repeats, saying of each whether it equals that later line.
pub fn staged_superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
    diesel::sql_query(
        "DELETE FROM import_customers AS s
         USING (SELECT DISTINCT ON (id_type, code) line, id_type, code, name
                FROM import_customers ORDER BY id_type, code, line DESC) AS w
         WHERE w.id_type = s.id_type AND w.code = s.code AND w.line > s.line
         RETURNING s.name = w.name AS same",
    )
    .load(conn)
}

/// Writes the staged customers (`import_customers`), changing only what differs from what is
/// stored.
pub fn upsert_staged(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
    super::staged::write(
        conn,
        "WITH written AS (
             INSERT INTO customers (id_type, code, name)
             SELECT s.id_type, s.code, s.name
             FROM import_customers AS s
             LEFT JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
             WHERE c.customer_id IS NULL OR c.name <> s.name
             ORDER BY s.id_type, s.code
             ON CONFLICT (id_type, code) DO UPDATE SET name = EXCLUDED.name
                 WHERE customers.name <> EXCLUDED.name
             RETURNING xmax = 0 AS inserted)
         SELECT count(*) FILTER (WHERE inserted) AS inserted,
                count(*) FILTER (WHERE NOT inserted) AS updated
         FROM written",
        run_id,
    )
}
