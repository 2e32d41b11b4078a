//! What operators see: Prometheus metrics on the admin listener, counting exactly the
//! traffic the server answered, and log lines as JSON that hold no secret.

use billing_test_support as common;
use std::{process::Stdio, time::Duration};

use common::{
    TestApp,
    process::{Cluster, ServerProcess},
};
use diesel::{Connection, PgConnection};

/// The value of the sample of `metric` whose labels include every one of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{metric}{{")) || line.starts_with(&format!("{metric} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn the_metrics_count_exactly_the_traffic_answered_by_operation() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    for _ in 0..3 {
        assert_eq!(
            app.get(&app.api("/customers/CLIENT_CODE/1001/bills"), &token)
                .await
                .0,
            200
        );
    }
    assert_eq!(
        app.get(&app.api("/customers/CLIENT_CODE/9999/bills"), &token)
            .await
            .0,
        404
    );
    assert_eq!(
        app.get(&app.api("/customers/50499001001/profile"), &token)
            .await
            .0,
        200
    );
    let no_token = app
        .http
        .get(app.api("/customers/CLIENT_CODE/1001/bills"))
        .send()
        .await
        .expect("request");
    assert_eq!(no_token.status(), 401);
    for _ in 0..2 {
        app.http
            .get(app.url("/health"))
            .send()
            .await
            .expect("health");
    }
    let api_metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(api_metrics.status(), 404, "never where the API is");

    let admin = app.admin.as_ref().expect("the admin listener is on");
    let metrics = app
        .http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let requests = |operation: &str, status: &str| {
        sample(
            &metrics,
            "billing_requests_total",
            &[
                &format!("operation=\"{operation}\""),
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(
        requests("findCustomerBillsByClientCode", "200"),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(requests("findCustomerBillsByClientCode", "404"), Some(1.0));
    assert_eq!(requests("findCustomerBillsByClientCode", "401"), Some(1.0));
    assert_eq!(requests("getClientAccountGeneralInfo", "200"), Some(1.0));
    assert_eq!(requests("health", "200"), Some(2.0));
    assert_eq!(requests("token", "200"), Some(1.0));
    assert_eq!(
        requests("unmatched", "404"),
        Some(1.0),
        "/metrics on the API listener"
    );
    assert_eq!(
        sample(
            &metrics,
            "billing_request_duration_seconds_count",
            &["operation=\"findCustomerBillsByClientCode\""]
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(&metrics, "billing_token_grants_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "billing_token_refusals_total",
            &["reason=\"missing\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "billing_token_checks_total", &["cache=\"miss\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "billing_token_checks_total", &["cache=\"hit\""]),
        Some(4.0)
    );
    assert!(sample(&metrics, "billing_db_pool_waits_total", &[]).is_some_and(|waits| waits >= 6.0));
    assert_eq!(
        sample(&metrics, "billing_db_pool_wait_timeouts_total", &[]),
        Some(0.0)
    );
    assert!(sample(&metrics, "billing_build_info", &["version=\""]).is_some());
    assert!(
        sample(&metrics, "billing_process_resident_memory_bytes", &[]).is_some_and(|rss| rss > 0.0)
    );
}

#[test]
fn json_log_lines_parse_and_hold_no_secret_or_token() {
    let cluster = Cluster::start();
    billing_impl::db::migrate(&cluster.url()).expect("migrate");
    let mut conn = PgConnection::establish(&cluster.url()).expect("connect");
    billing_impl::seed::demo(&mut conn).expect("demo data");
    let client = billing_impl::auth::clients::create(
        &mut conn,
        "logged",
        &["read".into()],
        &billing_impl::auth::clients::CustomerGrant::All,
        billing_impl::limits::Setting::Default,
        billing_impl::limits::Setting::Default,
    )
    .expect("client");
    let log_path = std::env::temp_dir().join(format!(
        "billing-log-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = ServerProcess::start_logging(
        &cluster.url(),
        &[("BILLING_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
        Stdio::from(log),
    );
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let http = reqwest::blocking::Client::new();
    let answer: serde_json::Value = http
        .post(format!(
            "{}/oauth/client_credential/accesstoken?grant_type=client_credentials",
            server.base
        ))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .send()
        .expect("token")
        .json()
        .expect("JSON");
    let token = answer["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let bills = http
        .get(format!(
            "{}/v2/billing/customers/CLIENT_CODE/1001/bills",
            server.base
        ))
        .bearer_auth(&token)
        .header("x-request-id", "logged-request")
        .send()
        .expect("bills");
    assert_eq!(bills.status(), 200);
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));

    let text = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    assert!(
        !text.contains(&client.client_secret),
        "no client secret in the log"
    );
    assert!(!text.contains(&token), "no token in the log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}")))
        .collect();
    let access = lines
        .iter()
        .find(|line| line["request_id"] == "logged-request")
        .unwrap_or_else(|| panic!("the access line of the request: {text}"));
    assert_eq!(access["target"], "access");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["operation"], "findCustomerBillsByClientCode");
    assert_eq!(access["status"], 200);
    assert_eq!(access["client_id"], client.client_id.as_str());
    assert!(access["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert!(access["timestamp"].is_string() && access["message"].is_string());
}

#[tokio::test]
async fn the_contract_and_its_docs_page_are_served_without_a_token() {
    let app = TestApp::start().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let response = app
        .http
        .get(app.api("/swagger.json"))
        .send()
        .await
        .expect("swagger.json");
    assert_eq!(response.status(), 200);
    let spec: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(spec["swagger"], "2.0");
    assert_eq!(spec["host"], address.as_str(), "this deployment's host");
    assert_eq!(spec["basePath"], "/v2/billing");
    assert_eq!(
        spec["securityDefinitions"]["application"]["tokenUrl"],
        format!(
            "http://{address}/oauth/client_credential/accesstoken?grant_type=client_credentials"
        )
    );
    let operations: usize = spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|path| path.as_object().map_or(0, |methods| methods.len()))
        .sum();
    assert_eq!(operations, 8, "every operation of the contract");
    assert_eq!(
        spec["parameters"]["idType"]["pattern"], "^[A-Za-z][A-Za-z0-9_-]*$",
        "the patterns' aliases are resolved"
    );

    let response = app
        .http
        .get(app.api("/swagger.yaml"))
        .send()
        .await
        .expect("swagger.yaml");
    assert_eq!(response.status(), 200);
    let yaml: serde_json::Value =
        serde_norway::from_str(&response.text().await.expect("text")).expect("YAML");
    assert_eq!(yaml, spec, "the same contract in YAML");

    let page = app.http.get(app.api("/docs/")).send().await.expect("docs");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("swagger-ui-bundle.js") && html.contains("/v2/billing/swagger.json"),
        "{html}"
    );
    let bundle = app
        .http
        .get(app.api("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("bundle");
    assert_eq!(bundle.status(), 200, "the assets are in the binary");
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.api("/docs"))
        .send()
        .await
        .expect("docs");
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/v2/billing/docs/");
}
