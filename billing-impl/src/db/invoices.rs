//! Queries on `invoices`.

use chrono::NaiveDate;
use diesel::{
    PgConnection, QueryResult, connection::DefaultLoadingMode, dsl::AsSelect, pg::Pg, prelude::*,
    query_dsl::LoadQuery,
};

use super::{
    amount::Amount,
    billing_groups,
    customers::CustomerKeys,
    schema::{customers, invoices},
};

/// One invoice, with every column the API shows.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg))]
pub struct InvoiceRow {
    pub invoice_number: String,
    pub billing_group_id: Option<String>,
    pub subscriber_msisdn: Option<i64>,
    pub contract_number: Option<i64>,
    pub invoice_status: String,
    pub bill_date: NaiveDate,
    pub bill_period: Option<String>,
    pub period_start_date: Option<NaiveDate>,
    pub period_end_date: Option<NaiveDate>,
    pub expiration_date: Option<NaiveDate>,
    pub expiration_electronic_date: Option<NaiveDate>,
    pub print_date: Option<NaiveDate>,
    pub payment_date: Option<NaiveDate>,
    pub invoice_amount: Amount,
    pub invoice_balance: Amount,
    pub payment_amount: Option<Amount>,
    pub invoiced_service_count: Option<i32>,
    pub invoice_type: Option<String>,
    pub invoice_serial: Option<String>,
    pub invoice_description: Option<String>,
    pub billing_name: Option<String>,
    pub billing_address: Option<String>,
    pub billplan: Option<String>,
    pub contact_name: Option<String>,
    pub phone: Option<String>,
    pub cai: Option<String>,
    pub dei: Option<String>,
    pub attachment: Option<String>,
}

/// Which of a customer's invoices to list, and which page.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Only this billing group's invoices.
    pub billing_group: Option<String>,
    /// Bill date on or after.
    pub from: Option<NaiveDate>,
    /// Bill date on or before.
    pub to: Option<NaiveDate>,
    pub contract_number: Option<i64>,
    /// Wire value of the invoice status.
    pub status: Option<&'static str>,
    pub offset: i64,
    pub limit: i64,
}

impl InvoiceFilter {
    /// Whether the page is of all the customer's invoices.
    fn is_unfiltered(&self) -> bool {
        let Self {
            billing_group,
            from,
            to,
            contract_number,
            status,
            offset: _,
            limit: _,
        } = self;
        billing_group.is_none()
            && from.is_none()
            && to.is_none()
            && contract_number.is_none()
            && status.is_none()
    }
}

/// From this offset on, a page of all a customer's invoices is read by position
/// (`customer_position`, which the database keeps): the customer's newest position first,
/// then the page's short range of `invoices_by_position`, however deep. Below it, the plain
/// ordered index scan, one statement that steps over the rows before the page, is cheaper.
/// Measured with pgbench on the 10,000-bill customer (prepared, one client, pages of 20):
/// at offset 20, plain 5,466 vs by position 5,176 tps; at 60, 4,651 vs 4,876; at 200, 3,816
/// vs 5,235; at 400, 3,209 vs 5,676.
pub const BY_POSITION_FROM_OFFSET: i64 = 50;

/// From an offset of this many pages on, a filtered page is read by a deferred join: its
/// invoice numbers first, from the `invoices_by_customer` index alone, then only those rows.
/// Below it, the plain ordered index scan, which reads each skipped row too, is cheaper: it
/// looks the customer up once and has no join, hash or second sort. Measured with pgbench on
/// the 10,000-bill customer (prepared, one client, `random_page_cost` 1.1 as the pool sets it):
/// pages of 20 at offset 200, plain 5,160 vs deferred 4,170 tps; at 400, 4,420 vs 4,730; at
/// 5,000, 950 vs 2,060. Pages of 100 at offset 1,000, 2,420 vs 2,000; at 5,000, 840 vs 1,410.
pub const DEFERRED_JOIN_FROM_PAGES: i64 = 20;

/// What listing a customer's bills found.
#[derive(Debug)]
pub enum Listing {
    /// No customer has that name (or key).
    NoCustomer,
    /// The customer has no billing group by the filter's name.
    NoGroup,
    /// A page of the customer's bills, maybe empty.
    Page(Page),
}

/// A page of a customer's bills, with how many bills match its filters in all, and the
/// version of what the API answers of the customer (`customers.data_version`), all three
/// read from one snapshot (see `page`).
#[derive(Debug)]
pub struct Page {
    /// The customer's key.
    pub customer_id: i64,
    pub rows: Vec<InvoiceRow>,
    pub total: i64,
    pub version: i64,
}

/// A page of the bills of the customer named `id_type` and `code`, read by the key
/// remembered in `keys` when there is one, so that PostgreSQL does not look the customer
/// up. Such a key is stale when its customer is gone, or another under the same name: the
/// page finds no customer by it, and the name is looked up again.
pub fn list(
    conn: &mut PgConnection,
    keys: &CustomerKeys,
    id_type: &str,
    code: i64,
    filter: &InvoiceFilter,
) -> QueryResult<Listing> {
    let (key, remembered) = match keys.remembered(id_type, code) {
        Some(key) => (key, true),
        None => match keys.look_up(conn, id_type, code)? {
            Some(key) => (key, false),
            None => return Ok(Listing::NoCustomer),
        },
    };
    match page(conn, key, filter)? {
        Listing::NoCustomer if remembered => match keys.look_up(conn, id_type, code)? {
            Some(current) => page(conn, current, filter),
            None => Ok(Listing::NoCustomer),
        },
        listing => Ok(listing),
    }
}

/// One page of the invoices of the customer whose key is `customer_id`, newest bill date
/// first, ties by invoice number, with its count and version from the same snapshot, so
/// that a tag is only ever given to the rows it describes.
///
/// A shallow page that is not empty (nearly every request) is one statement: without
/// filters, the rows joined to the customer's row, which holds the count and the version;
/// with filters (a group's bills too), the rows with the count and the version as
/// subqueries that PostgreSQL runs once. Every other page (deep, or empty) is read in one
/// `REPEATABLE READ` read-only transaction: the count and version first, then, only when
/// the page is not past the end, its rows. docs/design.md has the figures.
pub fn page(
    conn: &mut PgConnection,
    customer_id: i64,
    filter: &InvoiceFilter,
) -> QueryResult<Listing> {
    if filter.offset < BY_POSITION_FROM_OFFSET {
        let counted = match page_statement(customer_id, filter) {
            PageStatement::Plain(statement) => load(conn, statement, filter.limit)?,
            PageStatement::Counted(statement) => {
                let rows: Vec<(InvoiceRow, Option<i64>, Option<i64>)> =
                    load(conn, statement, filter.limit)?;
                // A page with rows has a customer, so both are there.
                rows.into_iter()
                    .map(|(row, total, version)| (row, total.unwrap_or(0), version.unwrap_or(0)))
                    .collect()
            }
            PageStatement::Built(_) => Vec::new(),
        };
        if let Some(&(_, total, version)) = counted.first() {
            return Ok(Listing::Page(Page {
                customer_id,
                rows: counted.into_iter().map(|(row, _, _)| row).collect(),
                total,
                version,
            }));
        }
        // No row: no such customer, or none of its bills on this page; the snapshot
        // below tells which.
    }
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| page_in_snapshot(conn, customer_id, filter))
}

/// `page`, in the snapshot of the caller's transaction.
fn page_in_snapshot(
    conn: &mut PgConnection,
    customer_id: i64,
    filter: &InvoiceFilter,
) -> QueryResult<Listing> {
    let Some((total, version)) = summary(conn, customer_id, filter)? else {
        return Ok(Listing::NoCustomer);
    };
    if total == 0
        && let Some(group) = &filter.billing_group
        && !billing_groups::exists(conn, customer_id, group)?
    {
        return Ok(Listing::NoGroup);
    }
    let rows = if filter.offset >= total {
        Vec::new()
    } else if filter.is_unfiltered() && filter.offset >= BY_POSITION_FROM_OFFSET {
        // Positions run from 1 to how many invoices the customer has.
        load_page(
            conn,
            by_position(customer_id, total - filter.offset, filter.limit),
            filter.limit,
        )?
    } else {
        load_page(conn, page_statement(customer_id, filter), filter.limit)?
    };
    Ok(Listing::Page(Page {
        customer_id,
        rows,
        total,
        version,
    }))
}

/// The invoices of a page's statement (a page without filters selects more, see `page`).
fn load_page(
    conn: &mut PgConnection,
    statement: PageStatement,
    limit: i64,
) -> QueryResult<Vec<InvoiceRow>> {
    match statement {
        PageStatement::Plain(statement) => {
            let rows: Vec<(InvoiceRow, i64, i64)> = load(conn, statement, limit)?;
            Ok(rows.into_iter().map(|(row, _, _)| row).collect())
        }
        PageStatement::Counted(statement) => {
            let rows: Vec<(InvoiceRow, Option<i64>, Option<i64>)> = load(conn, statement, limit)?;
            Ok(rows.into_iter().map(|(row, _, _)| row).collect())
        }
        PageStatement::Built(statement) => load(conn, statement, limit),
    }
}

/// How many invoices of the customer whose key is `customer_id` match `filter`, and the
/// customer's version; `None` when there is no such customer.
fn summary(
    conn: &mut PgConnection,
    customer_id: i64,
    filter: &InvoiceFilter,
) -> QueryResult<Option<(i64, i64)>> {
    if filter.is_unfiltered() {
        return counted(conn, customer_id);
    }
    let (total, version): (Option<i64>, Option<i64>) =
        diesel::select((count_of(customer_id, filter), version_of(customer_id)))
            .get_result(conn)?;
    Ok(version.map(|version| (total.unwrap_or(0), version)))
}

/// The version of what the API answers of the customer whose key is `customer_id`, as an
/// expression of a statement; null when there is no such customer.
pub fn version_of(customer_id: i64) -> VersionOf {
    customers::table
        .filter(customers::customer_id.eq(customer_id))
        .select(customers::data_version)
        .single_value()
}

/// See `version_of`.
pub type VersionOf = diesel::dsl::SingleValue<
    diesel::dsl::Select<
        diesel::dsl::Filter<customers::table, diesel::dsl::Eq<customers::customer_id, i64>>,
        customers::data_version,
    >,
>;

/// How many of the customer's invoices match `filter`, as an expression of a statement.
fn count_of(customer_id: i64, filter: &InvoiceFilter) -> CountOf {
    let count = invoices::table
        .filter(of_customer(customer_id))
        .select(diesel::dsl::count_star())
        .into_boxed();
    with_filters(count, filter).single_value()
}

/// See `count_of`.
type CountOf =
    diesel::dsl::SingleValue<invoices::BoxedQuery<'static, Pg, diesel::sql_types::BigInt>>;

/// How many invoices the customer whose key is `customer_id` has, and its version;
/// `None` when there is no such customer.
fn counted(conn: &mut PgConnection, customer_id: i64) -> QueryResult<Option<(i64, i64)>> {
    customers::table
        .find(customer_id)
        .select((customers::invoice_count, customers::data_version))
        .first(conn)
        .optional()
}

/// The statement of a page of all the customer's invoices that ends at position `last`
/// (the newest position less the page's offset): the `limit` positions up to it, newest
/// first, read by `invoices_by_position`.
pub fn by_position(customer_id: i64, last: i64, limit: i64) -> PageStatement {
    PageStatement::Built(
        invoices::table
            .filter(of_customer(customer_id))
            .filter(invoices::customer_position.le(last))
            .order(invoices::customer_position.desc())
            .limit(limit)
            .select(InvoiceRow::as_select())
            .into_boxed(),
    )
}

/// The rows of `statement`, a page of at most `limit`.
fn load<Q, R>(conn: &mut PgConnection, statement: Q, limit: i64) -> QueryResult<Vec<R>>
where
    Q: for<'a> LoadQuery<'a, PgConnection, R, DefaultLoadingMode>,
{
    // Room for the whole page at once: collecting rows that may fail would grow and copy
    // the vector of these wide rows several times.
    let mut rows = Vec::with_capacity(usize::try_from(limit).unwrap_or_default());
    for row in statement.load_iter::<R, DefaultLoadingMode>(conn)? {
        rows.push(row?);
    }
    Ok(rows)
}

/// What a page without filters selects: each invoice, with how many invoices its customer
/// has and the customer's version.
type PlainSelection = (
    AsSelect<InvoiceRow, Pg>,
    customers::invoice_count,
    customers::data_version,
);

/// The statement of a page without filters: its type is known when compiling, so diesel
/// finds it prepared by its type alone, without writing its SQL again for each request.
pub type PlainPage = diesel::dsl::Select<
    diesel::dsl::Limit<
        diesel::dsl::Offset<
            diesel::dsl::Order<
                diesel::dsl::Filter<
                    diesel::dsl::InnerJoin<invoices::table, customers::table>,
                    OfCustomer,
                >,
                (
                    diesel::dsl::Desc<invoices::bill_date>,
                    diesel::dsl::Desc<invoices::invoice_number>,
                ),
            >,
        >,
    >,
    PlainSelection,
>;

/// A statement put together for the request: its filters, or the range of a deep page.
pub type BuiltPage = invoices::BoxedQuery<'static, Pg, AsSelect<InvoiceRow, Pg>>;

/// A shallow page with filters: each invoice, with how many match the filters and the
/// customer's version (null when there is no such customer).
pub type CountedPage = invoices::BoxedQuery<
    'static,
    Pg,
    (
        AsSelect<InvoiceRow, Pg>,
        diesel::sql_types::Nullable<BigInt>,
        diesel::sql_types::Nullable<BigInt>,
    ),
>;

/// The statement `page` runs.
pub enum PageStatement {
    /// A shallow page without filters: nearly every request.
    Plain(PlainPage),
    /// A page with filters (a group's bills too) before `BY_POSITION_FROM_OFFSET`.
    Counted(CountedPage),
    /// Any other page: its rows alone, read after the count in one transaction.
    Built(BuiltPage),
}

impl PageStatement {
    /// The statement and its parameters, as diesel shows them; the benchmark prints its plan.
    pub fn debug(&self) -> String {
        match self {
            Self::Plain(statement) => diesel::debug_query::<Pg, _>(statement).to_string(),
            Self::Counted(statement) => diesel::debug_query::<Pg, _>(statement).to_string(),
            Self::Built(statement) => diesel::debug_query::<Pg, _>(statement).to_string(),
        }
    }
}

/// The statement of `page`, for it and for the benchmark, which prints its plans.
///
/// Shallow pages (nearly every request): one index scan of `invoices_by_customer` (or of
/// `invoices_by_group` for a group's bills) in the order of the page; the filters on dates
/// bound the scan, the others filter it. Deep filtered pages: the same scan over the index
/// alone for the page's keys, then those rows. (`page` reads deep pages without filters by
/// position instead.)
pub fn page_statement(customer_id: i64, filter: &InvoiceFilter) -> PageStatement {
    let newest_first = (invoices::bill_date.desc(), invoices::invoice_number.desc());
    if filter.offset < DEFERRED_JOIN_FROM_PAGES * filter.limit {
        return if filter.is_unfiltered() {
            // The customer's row joins each invoice: one index lookup for the count and
            // the version.
            PageStatement::Plain(
                invoices::table
                    .inner_join(customers::table)
                    .filter(of_customer(customer_id))
                    .order(newest_first)
                    .offset(filter.offset)
                    .limit(filter.limit)
                    .select((
                        InvoiceRow::as_select(),
                        customers::invoice_count,
                        customers::data_version,
                    )),
            )
        } else if filter.offset >= BY_POSITION_FROM_OFFSET {
            // Read inside `page`'s transaction, after the count: the rows alone.
            let page = invoices::table
                .filter(of_customer(customer_id))
                .order(newest_first)
                .offset(filter.offset)
                .limit(filter.limit)
                .select(InvoiceRow::as_select())
                .into_boxed();
            PageStatement::Built(with_filters(page, filter))
        } else {
            // The count and the version are subqueries of no row: run once (InitPlans).
            let page = invoices::table
                .filter(of_customer(customer_id))
                .order(newest_first)
                .offset(filter.offset)
                .limit(filter.limit)
                .select((
                    InvoiceRow::as_select(),
                    count_of(customer_id, filter),
                    version_of(customer_id),
                ))
                .into_boxed();
            PageStatement::Counted(with_filters(page, filter))
        };
    }
    let keys = invoices::table
        .filter(of_customer(customer_id))
        .select(invoices::invoice_number)
        .order(newest_first)
        .offset(filter.offset)
        .limit(filter.limit)
        .into_boxed();
    PageStatement::Built(
        invoices::table
            .filter(of_customer(customer_id))
            .filter(invoices::invoice_number.eq_any(with_filters(keys, filter)))
            .order(newest_first)
            .select(InvoiceRow::as_select())
            .into_boxed(),
    )
}

/// The condition that an invoice is of the customer whose key is `customer_id`.
pub type OfCustomer = diesel::dsl::Eq<invoices::customer_id, i64>;

/// The invoices of the customer whose key is `customer_id`.
fn of_customer(customer_id: i64) -> OfCustomer {
    invoices::customer_id.eq(customer_id)
}

/// `query` narrowed by every filter of `filter`.
fn with_filters<ST: 'static>(
    mut query: invoices::BoxedQuery<'static, Pg, ST>,
    filter: &InvoiceFilter,
) -> invoices::BoxedQuery<'static, Pg, ST> {
    if let Some(group) = &filter.billing_group {
        query = query.filter(invoices::billing_group_id.eq(group.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(invoices::bill_date.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(invoices::bill_date.le(to));
    }
    if let Some(contract) = filter.contract_number {
        query = query.filter(invoices::contract_number.eq(contract));
    }
    if let Some(status) = filter.status {
        query = query.filter(invoices::invoice_status.eq(status));
    }
    query
}

// `billing import`: its staged rows of this table, checked and written (`db::staged`).

use std::sync::LazyLock;

use diesel::sql_types::BigInt;

use super::staged::{Superseded, Unresolved, Written};

/// The staging table of `billing import`'s invoices: each column an import writes, written
/// once (its Rust, diesel and SQL types), the key first (the customer's name, the invoice
/// number), the amounts in whole cents (`<column>_cents`). The statements below take their
/// columns from it.
pub mod staging {
    use chrono::NaiveDate;

    super::super::staged::staging! {
        import_invoices {
            id_type: String => Text = "TEXT NOT NULL",
            code: i64 => Int8 = "BIGINT NOT NULL",
            invoice_number: String => Text = "TEXT NOT NULL",
            billing_group_id: Option<String> => Nullable<Text> = "TEXT",
            subscriber_msisdn: Option<i64> => Nullable<Int8> = "BIGINT",
            contract_number: Option<i64> => Nullable<Int8> = "BIGINT",
            invoice_status: String => Text = "TEXT NOT NULL",
            bill_date: NaiveDate => Date = "DATE NOT NULL",
            bill_period: Option<String> => Nullable<Text> = "TEXT",
            period_start_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            period_end_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            expiration_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            expiration_electronic_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            print_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            payment_date: Option<NaiveDate> => Nullable<Date> = "DATE",
            invoice_amount_cents: i64 => Int8 = "BIGINT NOT NULL",
            invoice_balance_cents: i64 => Int8 = "BIGINT NOT NULL",
            payment_amount_cents: Option<i64> => Nullable<Int8> = "BIGINT",
            invoiced_service_count: Option<i32> => Nullable<Int4> = "INTEGER",
            invoice_type: Option<String> => Nullable<Text> = "TEXT",
            invoice_serial: Option<String> => Nullable<Text> = "TEXT",
            invoice_description: Option<String> => Nullable<Text> = "TEXT",
            billing_name: Option<String> => Nullable<Text> = "TEXT",
            billing_address: Option<String> => Nullable<Text> = "TEXT",
            billplan: Option<String> => Nullable<Text> = "TEXT",
            contact_name: Option<String> => Nullable<Text> = "TEXT",
            phone: Option<String> => Nullable<Text> = "TEXT",
            cai: Option<String> => Nullable<Text> = "TEXT",
            dei: Option<String> => Nullable<Text> = "TEXT",
            attachment: Option<String> => Nullable<Text> = "TEXT",
        }
    }
}

/// The staged columns that make an invoice's key, not its content.
const KEY: [&str; 3] = ["id_type", "code", "invoice_number"];

/// The columns of `invoices` an import writes beside the key, as the staging table has them
/// in order, each with whether it is an amount (staged as `<column>_cents`).
fn content_columns() -> impl Iterator<Item = (&'static str, bool)> {
    staging::STAGED_COLUMNS
        .iter()
        .filter(|column| !KEY.contains(column))
        .map(|column| match column.strip_suffix("_cents") {
            Some(amount) => (amount, true),
            None => (*column, false),
        })
}

/// The content columns, each as `each` makes it of its name and whether it is an amount,
/// comma-separated.
fn content(each: impl Fn(&str, bool) -> String) -> String {
    content_columns()
        .map(|(column, amount)| each(column, amount))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The staged content columns of the staging row `alias`.
fn staged(alias: &str) -> String {
    content(|column, amount| match amount {
        true => format!("{alias}.{column}_cents"),
        false => format!("{alias}.{column}"),
    })
}

static SUPERSEDED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "DELETE FROM import_invoices AS s
         USING (SELECT DISTINCT ON (id_type, code, invoice_number) *
                FROM import_invoices ORDER BY id_type, code, invoice_number, line DESC) AS w
         WHERE w.id_type = s.id_type AND w.code = s.code AND w.invoice_number = s.invoice_number
           AND w.line > s.line
         RETURNING ({}) IS NOT DISTINCT FROM ({}) AS same",
        staged("s"),
        staged("w")
    )
});

static WRITE: LazyLock<String> = LazyLock::new(|| {
    let converted = content(|column, amount| match amount {
        true => format!("(s.{column}_cents::numeric / 100)::numeric(15, 2) AS {column}"),
        false => format!("s.{column}"),
    });
    let of = |alias: &str| content(|column, _| format!("{alias}.{column}"));
    let set = content(|column, _| format!("{column} = EXCLUDED.{column}"));
    format!(
        "WITH converted AS (
             SELECT c.customer_id, s.invoice_number, {converted}
             FROM import_invoices AS s
             JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
         ), staged AS (
             SELECT s.*, i.customer_id IS NULL AS new
             FROM converted AS s
             LEFT JOIN invoices AS i
                 ON i.customer_id = s.customer_id AND i.invoice_number = s.invoice_number
             WHERE i.customer_id IS NULL OR ({stored}) IS DISTINCT FROM ({incoming})
         ), newest AS (
             SELECT n.customer_id, p.customer_position, p.bill_date, p.invoice_number
             FROM (SELECT DISTINCT customer_id FROM staged WHERE new) AS n
             LEFT JOIN LATERAL (
                 SELECT i.customer_position, i.bill_date, i.invoice_number
                 FROM invoices AS i
                 WHERE i.customer_id = n.customer_id AND i.customer_position IS NOT NULL
                 ORDER BY i.customer_position DESC LIMIT 1) AS p ON true
         ), written AS (
             INSERT INTO invoices (customer_id, invoice_number, {columns}, customer_position)
             SELECT s.customer_id, s.invoice_number, {incoming},
                    CASE WHEN s.new AND (p.customer_position IS NULL
                                         OR (s.bill_date, s.invoice_number)
                                            > (p.bill_date, p.invoice_number))
                         THEN coalesce(p.customer_position, 0)
                              + row_number() OVER (PARTITION BY s.customer_id, s.new
                                                   ORDER BY s.bill_date, s.invoice_number)
                    END
             FROM staged AS s
             LEFT JOIN newest AS p ON p.customer_id = s.customer_id
             ORDER BY s.customer_id, s.invoice_number
             ON CONFLICT (customer_id, invoice_number) DO UPDATE SET {set}
                 WHERE ({current}) IS DISTINCT FROM ({excluded})
             RETURNING xmax = 0 AS inserted
         )
         SELECT count(*) FILTER (WHERE inserted) AS inserted,
                count(*) FILTER (WHERE NOT inserted) AS updated
         FROM written",
        columns = content(|column, _| column.to_owned()),
        stored = of("i"),
        incoming = of("s"),
        current = of("invoices"),
        excluded = of("EXCLUDED"),
    )
});

/// Removes from the staged invoices (`import_invoices`) the rows from `from_line` on whose
/// references do not resolve, saying why.
pub fn staged_unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
    diesel::sql_query(
        "WITH checked AS (
             SELECT s.line,
                    CASE WHEN c.customer_id IS NULL THEN 1
                         WHEN s.billing_group_id IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM billing_groups AS g
                              WHERE g.customer_id = c.customer_id
                                AND g.group_id = s.billing_group_id) THEN 2
                         WHEN s.subscriber_msisdn IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM subscribers AS b
                              WHERE b.customer_id = c.customer_id
                                AND b.msisdn = s.subscriber_msisdn) THEN 3
                    END AS problem
             FROM import_invoices AS s
             LEFT JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
             WHERE s.line >= $1
         )
         DELETE FROM import_invoices AS s
         USING checked AS k
         WHERE k.line = s.line AND k.problem IS NOT NULL
         RETURNING s.line,
             CASE k.problem
                 WHEN 1 THEN format('no customer %s:%s', s.id_type, s.code)
                 WHEN 2 THEN format('the customer has no billing group `%s`', s.billing_group_id)
                 ELSE format('the customer has no subscriber %s', s.subscriber_msisdn)
             END AS reason,
             CASE k.problem WHEN 1 THEN 'customer' WHEN 2 THEN 'billingGroup.id'
                            ELSE 'subscriber.id' END AS field",
    )
    .bind::<BigInt, _>(from_line)
    .load(conn)
}

/// Removes from the staged invoices (`import_invoices`) the rows whose key a later line of
/// the batch repeats, saying of each whether it equals that later line.
pub fn staged_superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
    diesel::sql_query(SUPERSEDED.as_str()).load(conn)
}

/// Writes the staged invoices (`import_invoices`), changing only what differs from what is
/// stored.
pub fn upsert_staged(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
    super::staged::write(conn, WRITE.as_str(), run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns an import writes are those the API answers: the staging table's content
    /// columns, in order, are `InvoiceRow`'s after the invoice number.
    #[test]
    fn an_import_writes_every_column_the_api_answers() {
        let select = diesel::debug_query::<Pg, _>(&invoices::table.select(InvoiceRow::as_select()))
            .to_string();
        let listed = select
            .strip_prefix("SELECT ")
            .and_then(|rest| rest.split(" FROM ").next())
            .expect("a SELECT");
        let answered: Vec<String> = listed
            .split(", ")
            .map(|column| {
                column
                    .trim_start_matches("\"invoices\".")
                    .trim_matches('"')
                    .to_owned()
            })
            .collect();
        let written: Vec<String> = ["invoice_number"]
            .into_iter()
            .chain(content_columns().map(|(column, _)| column))
            .map(str::to_owned)
            .collect();
        assert_eq!(answered, written);
    }
}
