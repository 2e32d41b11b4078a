//! Queries on `subscribers`.

use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};

use super::schema::{customers, subscribers};

/// The contract profile of a subscriber.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = subscribers, check_for_backend(diesel::pg::Pg))]
pub struct ContractProfile {
    pub billing_address: Option<String>,
    pub billing_cycle: Option<String>,
    pub city: Option<String>,
    pub department: Option<String>,
}

/// A subscriber's profile, with the customer it belongs to.
#[derive(Debug, Queryable)]
pub struct OwnedProfile {
    /// The customer's `idType` and `id`, as the contract names it.
    pub id_type: String,
    pub code: i64,
    /// The customer's key, and the version of what the API answers of it.
    pub customer_id: i64,
    pub version: i64,
    pub profile: ContractProfile,
}

/// The profile of the subscriber with `msisdn`, with the customer it belongs to. Should
/// two customers list the same MSISDN, the subscriber registered last is the one answered.
pub fn profile(conn: &mut PgConnection, msisdn: i64) -> QueryResult<Option<OwnedProfile>> {
    subscribers::table
        .inner_join(customers::table)
        .filter(subscribers::msisdn.eq(msisdn))
        .order(subscribers::created_at.desc())
        .select((
            customers::id_type,
            customers::code,
            customers::customer_id,
            customers::data_version,
            ContractProfile::as_select(),
        ))
        .first(conn)
        .optional()
}

// `billing import`: its staged rows of this table, checked and written (`db::staged`).

use diesel::connection::SimpleConnection;

use super::staged::{Superseded, Unresolved, Written};

/// Removes from the staged subscribers (`import_subscribers`) the rows from `from_line` on whose
/// references do not resolve, saying why.
pub fn staged_unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
    super::staged::without_customer(conn, "import_subscribers", from_line)
}

/// Removes from the staged subscribers (`import_subscribers`) the rows whose key a later line of
/// the batch repeats, saying of each whether it equals that later line.
pub fn staged_superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
    diesel::sql_query(
        "DELETE FROM import_subscribers AS s
         USING (SELECT DISTINCT ON (msisdn) *
                FROM import_subscribers ORDER BY msisdn, line DESC) AS w
         WHERE w.msisdn = s.msisdn AND w.line > s.line
         RETURNING (s.id_type, s.code, s.contract_number, s.billing_address,
                    s.billing_cycle, s.city, s.department)
                   IS NOT DISTINCT FROM
                   (w.id_type, w.code, w.contract_number, w.billing_address,
                    w.billing_cycle, w.city, w.department) AS same",
    )
    .load(conn)
}

/// Writes the staged subscribers (`import_subscribers`), changing only what differs from what is
/// stored.
pub fn upsert_staged(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
    // Moves take turns, so that two runs moving one number at once cannot leave it
    // with two owners ('imps': the subscribers' own lock).
    conn.batch_execute("SELECT pg_advisory_xact_lock(1768779891, 0)")?;
    super::staged::write(
        conn,
        "WITH staged AS (
             SELECT c.customer_id, s.msisdn, s.contract_number, s.billing_address,
                    s.billing_cycle, s.city, s.department
             FROM import_subscribers AS s
             JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
         ), moved AS (
             DELETE FROM subscribers AS t
             USING staged AS s
             WHERE t.msisdn = s.msisdn AND t.customer_id <> s.customer_id
             RETURNING t.msisdn
         ), written AS (
             INSERT INTO subscribers (customer_id, msisdn, contract_number, billing_address,
                                      billing_cycle, city, department)
             SELECT s.customer_id, s.msisdn, s.contract_number, s.billing_address,
                    s.billing_cycle, s.city, s.department
             FROM staged AS s
             LEFT JOIN subscribers AS t ON t.customer_id = s.customer_id AND t.msisdn = s.msisdn
             WHERE t.msisdn IS NULL
                OR (t.contract_number, t.billing_address, t.billing_cycle, t.city, t.department)
                   IS DISTINCT FROM
                   (s.contract_number, s.billing_address, s.billing_cycle, s.city, s.department)
             ORDER BY s.customer_id, s.msisdn
             ON CONFLICT (customer_id, msisdn) DO UPDATE
                 SET contract_number = EXCLUDED.contract_number,
                     billing_address = EXCLUDED.billing_address,
                     billing_cycle = EXCLUDED.billing_cycle,
                     city = EXCLUDED.city, department = EXCLUDED.department
                 WHERE (subscribers.contract_number, subscribers.billing_address,
                        subscribers.billing_cycle, subscribers.city, subscribers.department)
                       IS DISTINCT FROM
                       (EXCLUDED.contract_number, EXCLUDED.billing_address,
                        EXCLUDED.billing_cycle, EXCLUDED.city, EXCLUDED.department)
             RETURNING msisdn, xmax = 0 AS inserted
         )
         -- A number that moved is a subscriber updated, though its row is new.
         SELECT count(*) FILTER (WHERE inserted AND msisdn NOT IN (SELECT msisdn FROM moved))
                    AS inserted,
                count(*) FILTER (WHERE NOT inserted OR msisdn IN (SELECT msisdn FROM moved))
                    AS updated
         FROM written",
        run_id,
    )
}
