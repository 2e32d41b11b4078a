//! A change committed while a GET is being answered, made deterministic: a connection of
//! the test's own holds a table locked, the request is sent and waits at its first
//! statement on that table, the change is committed on the same connection, and the lock
//! goes with the commit. What the answer then says must describe one state: the one
//! before the change, or the one after. Locking `customers` catches an answer that reads
//! its rows before its count and version; locking the rows' table catches one that reads
//! them after.

use std::time::{Duration, Instant};

use diesel::{PgConnection, RunQueryDsl, connection::SimpleConnection};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{TestApp, status_and_json};

/// A GET's answer as a client keeps it.
#[derive(Clone, PartialEq)]
pub struct Kept {
    pub status: u16,
    pub body: Value,
    pub etag: String,
    /// `X-Total-Count`, on a page of bills.
    pub total: Option<i64>,
}

/// What a failed assertion shows of an answer: its head and the names in its body, not
/// every field of every bill.
impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items = self
            .body
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        item.get("invoiceNumber")
                            .or_else(|| item.get("groupId"))
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    })
                    .collect::<Vec<_>>()
            });
        f.debug_struct("Kept")
            .field("status", &self.status)
            .field("etag", &self.etag)
            .field("total", &self.total)
            .field("items", &items)
            .finish()
    }
}

/// GET `url` with `token` and the extra `headers`.
pub async fn get(app: &TestApp, url: &str, token: &str, headers: &[(&str, &str)]) -> Kept {
    let mut request = app.http.get(url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let headers: HeaderMap = response.headers().clone();
    let (status, body) = if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        let body = response.bytes().await.expect("body");
        assert!(body.is_empty(), "a 304 has no body");
        (304, Value::Null)
    } else {
        status_and_json("GET", response).await
    };
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    Kept {
        status,
        body,
        etag: text("etag").unwrap_or_default().to_owned(),
        total: text("x-total-count").and_then(|total| total.parse().ok()),
    }
}

#[derive(diesel::QueryableByName)]
struct Waiting {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    waiting: i64,
}

/// GET `url` while `change` (SQL) is committed: the request is sent while `table` is
/// locked, `change` is committed once the request waits for the lock, and the answer is
/// returned.
pub async fn get_across_a_commit(
    app: &TestApp,
    url: &str,
    token: &str,
    table: &str,
    change: &str,
) -> Kept {
    let mut locker = app.db.connect();
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .expect("lock the table");
    let request = {
        let (http, url, token) = (app.http.clone(), url.to_owned(), token.to_owned());
        tokio::spawn(async move {
            let response = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            let headers = response.headers().clone();
            let (status, body) = status_and_json("GET", response).await;
            (status, body, headers)
        })
    };
    until_the_lock_is_waited_for(&mut app.db.connect(), table).await;
    locker
        .batch_execute(change)
        .and_then(|()| locker.batch_execute("COMMIT"))
        .expect("the change, committed");
    let (status, body, headers) = request.await.expect("the request's task");
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    Kept {
        status,
        etag: text("etag").unwrap_or_default().to_owned(),
        total: text("x-total-count").and_then(|total| total.parse().ok()),
        body,
    }
}

/// Returns once a session waits for a lock on `table`.
async fn until_the_lock_is_waited_for(watcher: &mut PgConnection, table: &str) {
    // A hang bound: the request reaches the database in milliseconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Waiting { waiting } = diesel::sql_query(
            "SELECT count(*) AS waiting FROM pg_locks
             WHERE relation = $1::regclass AND NOT granted",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .get_result(watcher)
        .expect("pg_locks");
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the request never waited for {table}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that `answer`, given across a commit, describes one state: its tag is the one
/// of `before` with `before`'s body and count, or the one a request now gets with its body
/// and count; and that a request now with that tag gets 304 only if its body is current.
pub async fn assert_one_state(app: &TestApp, url: &str, token: &str, before: &Kept, answer: &Kept) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let now = get(app, url, token, &[]).await;
    assert_ne!(now, *before, "the change changed the answer");
    if answer.etag == before.etag {
        assert_eq!(answer, before, "the tag of the state before the change");
    } else {
        assert_eq!(answer, &now, "the tag of the state after the change");
    }
    let later = get(app, url, token, &[("if-none-match", &answer.etag)]).await;
    let current = answer.body == now.body && answer.total == now.total;
    assert_eq!(
        later.status,
        if current { 304 } else { 200 },
        "a 304 only for the body it tagged"
    );
}

/// Asserts that the answer at `url`, asked for again while `change` (SQL) commits with
/// `table` locked, describes one state, and that its tag gives a 304 only for its own
/// body. The first request makes the server remember the customer's key, so that the
/// second one's first statement on `customers` is the answer's own.
pub async fn assert_one_state_across_a_commit(app: &TestApp, url: &str, table: &str, change: &str) {
    let token = app.token(&["read"]).await;
    // Twice, so that the token and the key are both remembered before the race.
    get(app, url, &token, &[]).await;
    let before = get(app, url, &token, &[]).await;
    assert_eq!(before.status, 200, "{:?}", before);
    let answer = get_across_a_commit(app, url, &token, table, change).await;
    assert_one_state(app, url, &token, &before, &answer).await;
}
