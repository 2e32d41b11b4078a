//! What every integration test of `billing-impl` needs: its own database, cloned from a
//! migrated template and dropped when the test ends; the real server on a free port;
//! tokens from the real token endpoint through the `oauth2` crate; and, in `process`,
//! PostgreSQL clusters and server processes of its own to break.

pub mod contract;
pub mod faults;
pub mod import;
pub mod process;
pub mod snapshot;

use std::{sync::OnceLock, time::Duration};

use billing_impl::{
    auth::{self, clients::CustomerGrant},
    config::ServeConfig,
    db, seed, server,
};
use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};
use oauth2::{AuthUrl, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl, basic::BasicClient};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The server URL of the cluster the tests use (`make test` starts it and sets this).
fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL must name a PostgreSQL database the tests may create databases from; `make test` sets it",
    )
}

fn url_of(database: &str) -> String {
    let admin = admin_url();
    let (server, _) = admin
        .rsplit_once('/')
        .expect("DATABASE_URL ends with /<database>");
    format!("{server}/{database}")
}

/// The name of the template database for the migrations as they are now: a changed
/// migration makes a new template.
fn template_name() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut paths: Vec<_> = walk(std::path::Path::new(dir));
    paths.sort();
    let mut digest = Sha256::new();
    for path in paths {
        digest.update(path.to_string_lossy().as_bytes());
        digest.update(std::fs::read(&path).expect("migration file readable"));
    }
    let hex: String = digest
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("billing_template_{hex}")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("migrations directory readable")
        .flat_map(|entry| {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Creates the migrated template once per cluster, under an advisory lock so that test
/// binaries running at the same time create it once.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = template_name();
        let mut admin = PgConnection::establish(&admin_url()).expect("connect to DATABASE_URL");
        admin
            .batch_execute("SELECT pg_advisory_lock(7420001)")
            .expect("lock");
        let exists: i64 = diesel::sql_query(format!(
            "SELECT count(*) AS count FROM pg_database WHERE datname = '{name}'"
        ))
        .get_result::<Count>(&mut admin)
        .expect("look up template")
        .count;
        if exists == 0 {
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create template");
            db::migrate(&url_of(&name)).expect("migrate template");
        }
        admin
            .batch_execute("SELECT pg_advisory_unlock(7420001)")
            .expect("unlock");
        name
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// A database of the test's own, migrated, dropped when the value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A database with every migration applied.
    pub fn migrated() -> Self {
        Self::create_from(template())
    }

    fn create_from(template: &str) -> Self {
        let name = format!("billing_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url()).expect("connect to DATABASE_URL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .expect("create test database");
        let url = url_of(&name);
        Self { name, url }
    }

    /// An empty database, with no migration applied.
    pub fn empty() -> Self {
        Self::create_from("template0")
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&admin_url()) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Settings of a test server: the defaults of `billing serve` on a free port, with a
/// small machine's share of threads and connections, and short token-cache and lockout
/// times that the tests wait out.
pub fn serve_config(database_url: &str) -> ServeConfig {
    ServeConfig::from_args([
        "--database-url",
        database_url,
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--db-pool-size",
        "4",
        "--shutdown-timeout-seconds",
        "5",
        "--token-cache-seconds",
        "1",
        "--auth-max-failures",
        "5",
        "--auth-lockout-seconds",
        "60",
    ])
    .expect("the test configuration parses")
}

/// The real server over a database of the test's own.
pub struct TestApp {
    pub db: TestDb,
    pub base: String,
    /// The admin listener's base URL, when it is on.
    pub admin: Option<String>,
    base_path: String,
    pub http: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// A server over an empty, migrated database.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server over the demo data set.
    pub async fn with_demo_data() -> Self {
        let app = Self::start().await;
        seed_demo(&app);
        app
    }

    /// A server whose configuration `adjust` has changed.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        let db = TestDb::migrated();
        let mut config = serve_config(&db.url);
        adjust(&mut config);
        let running = server::start(
            &config,
            db::Database::new(&config.database).expect("the database's threads"),
        )
        .expect("start the server");
        let handle = running.server.handle();
        tokio::spawn(running.server);
        let admin = running.admin.map(|(admin, address)| {
            tokio::spawn(admin);
            format!("http://{address}")
        });
        Self {
            db,
            base: format!("http://{}", running.address),
            admin,
            base_path: config.server.base_path.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            server: handle,
        }
    }

    /// A server whose database cannot be reached: nothing listens on port 1, so every
    /// connection attempt fails at once; requests wait 300 ms for a connection.
    pub async fn over_unreachable_database() -> Self {
        Self::start_with(|config| {
            config.database.database_url.database_url = "postgres://billing@127.0.0.1:1/billing"
                .parse()
                .expect("url");
            config.database.db_pool_timeout_ms = 300;
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An API path: the base path + `path`.
    pub fn api(&self, path: &str) -> String {
        format!("{}{}{path}", self.base, self.base_path)
    }

    /// Registers a first-party client (every customer) with `scopes`; returns its id and
    /// secret.
    pub fn client(&self, scopes: &[&str]) -> (String, String) {
        self.client_serving(scopes, CustomerGrant::All)
    }

    /// Registers a client with `scopes` that serves `customers`; returns its id and secret.
    pub fn client_serving(&self, scopes: &[&str], customers: CustomerGrant) -> (String, String) {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let client = auth::clients::create(
            &mut self.db.connect(),
            "test client",
            &scopes,
            &customers,
            billing_impl::limits::Setting::Default,
            billing_impl::limits::Setting::Default,
        )
        .expect("client");
        (client.client_id, client.client_secret)
    }

    /// A token for a new client with `scopes`, from the token endpoint, by the `oauth2` crate.
    pub async fn token(&self, scopes: &[&str]) -> String {
        let (id, secret) = self.client(scopes);
        self.token_for(&id, &secret, scopes).await
    }

    /// A token for an existing client, by the `oauth2` crate's client-credentials flow.
    pub async fn token_for(&self, client_id: &str, secret: &str, scopes: &[&str]) -> String {
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.to_owned()))
            .set_auth_uri(AuthUrl::new(self.url("/unused")).expect("url"))
            .set_token_uri(TokenUrl::new(self.url(auth::token_endpoint::TOKEN_PATH)).expect("url"));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let mut request = client.exchange_client_credentials();
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let token = request
            .request_async(&http)
            .await
            .expect("token from the token endpoint");
        token.access_token().secret().clone()
    }

    /// A token signed by the deployment's key, as the token endpoint signs them, but not
    /// issued: the database does not know it.
    pub async fn signed_unknown_token(&self) -> String {
        let keys = auth::keys::KeyRing::new();
        let database = db::Database::new(&serve_config(&self.db.url).database)
            .expect("the database's threads");
        keys.refresh(&database)
            .await
            .expect("read the signing keys");
        let random = auth::secrets::new_secret().expect("random");
        keys.sign(&random).expect("a live signing key")
    }

    /// POST to the token endpoint with an optional Basic credential, query and form body;
    /// returns the status, the JSON body and the headers.
    pub async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        query: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(format!(
            "{}{query}",
            self.url(auth::token_endpoint::TOKEN_PATH)
        ));
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        if !form.is_empty() {
            request = request.form(form);
        }
        let response = request.send().await.expect("token request");
        let headers = response.headers().clone();
        let (status, body) = status_and_json("POST", response).await;
        (status, body, headers)
    }

    /// The value of the admin listener's metric whose line starts with `series` (a name,
    /// and labels as Prometheus writes them); 0 when it has not been counted yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let admin = self.admin.as_ref().expect("the admin listener is on");
        let text = self
            .http
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("the metrics' text");
        text.lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    }

    /// Adds the customer `CLIENT_CODE` `code`, with no bills.
    pub fn add_customer(&self, code: i64) {
        self.db
            .connect()
            .batch_execute(&format!(
                "INSERT INTO customers (id_type, code, name) VALUES ('CLIENT_CODE', {code}, 'Test')"
            ))
            .expect("customer");
    }

    /// GET with a bearer token; returns status and JSON body, checked against the contract.
    pub async fn get(&self, url: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        status_and_json("GET", response).await
    }

    /// A request with a JSON body and a bearer token.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let method_name = method.to_string();
        let response = self
            .http
            .request(method, url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        status_and_json(&method_name, response).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops accepting and closes the pool's connections before the database is dropped.
        drop(self.server.stop(false));
    }
}

/// Invoices whose `customer_position` is not their place among their customer's, oldest
/// first from 1, and customers whose `invoice_count` is not how many invoices they have:
/// 0 when the numbering is exact.
pub fn numbering_errors(conn: &mut PgConnection) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM (
              SELECT customer_position, row_number() OVER (
                  PARTITION BY customer_id ORDER BY bill_date, invoice_number) AS expected
              FROM invoices) AS positions
          WHERE customer_position IS DISTINCT FROM expected)
         + (SELECT count(*) FROM customers c
            WHERE invoice_count <> (SELECT count(*) FROM invoices i
                                    WHERE i.customer_id = c.customer_id))",
    ))
    .get_result(conn)
    .expect("count")
}

/// A folder of the test's own, removed when the value is dropped.
pub struct Scratch {
    pub path: std::path::PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("billing-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("a scratch folder");
        Self { path }
    }

    /// Writes `contents` to the file `name` of the folder; its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Loads the demo data set into the app's database.
pub fn seed_demo(app: &TestApp) {
    seed_demo_into(&app.db);
}

/// Loads the demo data set into `db`.
pub fn seed_demo_into(db: &TestDb) {
    seed::demo(&mut db.connect()).expect("demo data");
}

/// The status and JSON body of the answer to a `method` request; fails the test when the
/// body is not JSON or breaks the contract.
pub async fn status_and_json(method: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, got {status}: {text}"));
    contract::check_response(method, &url, status, &body);
    (status, body)
}

/// Asserts that `body` is the contract's `errorBody` for `status`.
pub fn assert_error_body(body: &Value, status: u16) {
    let error = &body["error"];
    assert_eq!(
        error["statusCode"],
        status.to_string(),
        "errorBody of {body}"
    );
    assert!(
        error["message"].is_string(),
        "errorBody has a message: {body}"
    );
}
