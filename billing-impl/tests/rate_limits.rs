//! Each client's rate and quota, through the binary: two server instances on one
//! database, the quota counted across both, the RateLimit fields parsed as structured
//! fields, refusals that cost no SQL, limits changed live and a restart that keeps counts.

use billing_test_support as common;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use chrono::{Timelike, Utc};
use common::{
    TestDb,
    process::{ServerProcess, billing, client, token},
};
use diesel::{Connection as _, RunQueryDsl};
use serde_json::Value;

const BILLS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills";

/// One policy's parameters in a RateLimit field, by policy name.
type Policies = BTreeMap<String, BTreeMap<String, i64>>;

/// The policies of a `RateLimit-Policy` or `RateLimit` field, parsed as a structured
/// field list (RFC 9651) whose items are strings with integer parameters.
fn policies(value: &str) -> Policies {
    let list = sfv::Parser::new(value)
        .parse::<sfv::List>()
        .unwrap_or_else(|e| panic!("`{value}` is not a structured field list: {e}"));
    list.into_iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(item) => {
                let name = item
                    .bare_item
                    .as_string()
                    .unwrap_or_else(|| panic!("a string policy name in `{value}`"))
                    .as_str()
                    .to_owned();
                let params = item
                    .params
                    .iter()
                    .map(|(key, bare)| {
                        let number = bare
                            .as_integer()
                            .unwrap_or_else(|| panic!("an integer {key:?} in `{value}`"));
                        (key.as_str().to_owned(), i64::from(number))
                    })
                    .collect();
                (name, params)
            }
            sfv::ListEntry::InnerList(_) => panic!("no inner list in `{value}`"),
        })
        .collect()
}

/// An answer: its status, its RateLimit fields parsed, `Retry-After`, and its body.
struct Answer {
    status: u16,
    policy: Option<Policies>,
    limit: Option<Policies>,
    retry_after: Option<u64>,
    body: Value,
}

fn get(base: &str, token: &str) -> Answer {
    let response = client()
        .get(format!("{base}{BILLS}"))
        .bearer_auth(token)
        .send()
        .expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().expect("visible ASCII").to_owned())
    };
    let (policy, limit) = (header("ratelimit-policy"), header("ratelimit"));
    let retry_after = header("retry-after").map(|v| v.parse().expect("Retry-After seconds"));
    let status = response.status().as_u16();
    let body = response.json().unwrap_or(Value::Null);
    Answer {
        status,
        policy: policy.as_deref().map(policies),
        limit: limit.as_deref().map(policies),
        retry_after,
        body,
    }
}

/// A database with the demo data and a first-party client created by `billing clients
/// create` with `limits`; its id and secret.
fn client_with(db: &TestDb, limits: &[&str]) -> (String, String) {
    assert_eq!(billing(&db.url, &["seed", "--demo"], b"").code, 0);
    let mut args = vec!["clients", "create", "--name", "limited", "--all-customers"];
    args.extend_from_slice(limits);
    let created = billing(&db.url, &args, b"");
    assert_eq!(created.code, 0, "{}", created.stderr);
    let client = &created.json_lines()[0];
    (
        client["client_id"].as_str().expect("client_id").to_owned(),
        client["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    )
}

/// Waits, when the current minute has less than `needed` seconds left, for the next, so
/// that a test of a per-minute quota runs within one window.
fn within_one_minute(needed: u32) {
    let second = Utc::now().second();
    if 60 - second < needed {
        std::thread::sleep(Duration::from_secs(u64::from(61 - second)));
    }
}

fn assert_refusal(answer: &Answer, policy: &str) {
    assert_eq!(answer.status, 429);
    common::assert_error_body(&answer.body, 429);
    assert_eq!(answer.body["error"]["code"], "rate_limited");
    assert!(answer.retry_after.is_some_and(|s| s >= 1), "Retry-After");
    let limit = answer.limit.as_ref().expect("RateLimit on a 429");
    assert_eq!(limit[policy]["r"], 0, "r is 0 on a refusal");
    // Retry-After is the wait of the longest-spent policy: retrying sooner is refused again.
    let longest_wait = limit
        .values()
        .filter(|entry| entry["r"] == 0)
        .map(|entry| entry["t"])
        .max()
        .expect("a spent policy");
    assert_eq!(
        answer.retry_after.and_then(|s| i64::try_from(s).ok()),
        Some(longest_wait),
        "Retry-After is the t of the spent policies: {limit:?}"
    );
    assert!(
        answer
            .policy
            .as_ref()
            .is_some_and(|p| p.contains_key(policy)),
        "RateLimit-Policy on a 429"
    );
}

#[test]
fn a_quota_holds_across_two_instances_and_counts_down() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--quota", "100/minute"]);
    let servers = [
        ServerProcess::start(&db.url, &[]),
        ServerProcess::start(&db.url, &[]),
    ];
    let token = token(&servers[0], &credentials);
    within_one_minute(40);
    let mut served: i64 = 0;
    let mut last_r = i64::MAX;
    let mut refused = Vec::new();
    for i in 0..150 {
        let answer = get(&servers[i % 2].base, &token);
        let policy = answer.policy.as_ref().expect("RateLimit-Policy");
        assert_eq!(policy["minutely"]["q"], 100);
        assert_eq!(policy["minutely"]["w"], 60);
        let limit = answer.limit.as_ref().expect("RateLimit");
        let t = limit["minutely"]["t"];
        assert!((0..=60).contains(&t), "t within the window: {t}");
        match answer.status {
            200 => {
                assert!(refused.is_empty(), "a success after a refusal");
                served += 1;
                let r = limit["minutely"]["r"];
                assert!(r < last_r, "r counts down: {r} after {last_r}");
                assert!(r <= 100 - served, "r is at most what is left: {r}");
                last_r = r;
            }
            429 => refused.push(answer),
            other => panic!("status {other}: {}", answer.body),
        }
    }
    assert!((95..=100).contains(&served), "{served} served");
    assert_eq!(i64::try_from(refused.len()).expect("count"), 150 - served);
    for answer in &refused {
        assert_refusal(answer, "minutely");
        assert!(answer.retry_after.is_some_and(|s| s <= 60));
    }
    let counted: i64 = diesel::sql_query("SELECT used AS count FROM quota_counts")
        .load::<common_count::Count>(&mut db.connect())
        .expect("count")
        .iter()
        .map(|c| c.count)
        .sum();
    assert!(
        counted <= 100,
        "never more than the quota counted: {counted}"
    );
}

mod common_count {
    #[derive(diesel::QueryableByName)]
    pub struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pub count: i64,
    }
}

#[test]
fn a_rate_serves_its_burst_and_its_rate_then_refuses() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--rate", "20/s", "--quota", "none"]);
    let server = ServerProcess::start(&db.url, &[]);
    let token = token(&server, &credentials);
    let started = Instant::now();
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..15)
                        .map(|_| get(&server.base, &token))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let took = started.elapsed().as_secs_f64();
    let served = answers.iter().filter(|a| a.status == 200).count();
    // The burst at once, then 20 a second for as long as the burst lasted (with slack for
    // the edges of the measurement), whatever the speed of the machine.
    let most = 20.0 + 20.0 * took + 2.0;
    assert!(served >= 20, "the burst is served: {served}");
    assert!(
        (served as f64) <= most,
        "{served} served in {took:.2} s, at most {most:.0}"
    );
    let refusals: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        !refusals.is_empty(),
        "120 requests at once are not all served"
    );
    for answer in refusals {
        assert_refusal(answer, "rate");
    }
    for answer in answers.iter().filter(|a| a.status == 200) {
        let limit = answer.limit.as_ref().expect("RateLimit");
        assert!((0..20).contains(&limit["rate"]["r"]));
        assert_eq!(answer.policy.as_ref().expect("policy")["rate"]["q"], 20);
    }
}

#[test]
fn limits_changed_by_the_command_reach_both_instances_within_the_cache_time() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &[]);
    let env = [("BILLING_TOKEN_CACHE_SECONDS", "1")];
    let servers = [
        ServerProcess::start(&db.url, &env),
        ServerProcess::start(&db.url, &env),
    ];
    let token = token(&servers[0], &credentials);
    for server in &servers {
        let answer = get(&server.base, &token);
        assert_eq!(answer.status, 200);
        assert!(answer.limit.is_none(), "an unlimited client gets no fields");
    }
    let changed = billing(
        &db.url,
        &["clients", "limits", &credentials.0, "--quota", "3/hour"],
        b"",
    );
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(changed.json_lines()[0]["quota"], "3/hour");
    let listed = billing(&db.url, &["clients", "list"], b"");
    assert!(
        listed.stdout.contains("\"quota\": \"3/hour\""),
        "{}",
        listed.stdout
    );
    std::thread::sleep(Duration::from_millis(1500));
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let answer = get(&servers[i % 2].base, &token);
            assert_eq!(
                answer.policy.as_ref().expect("policy")["hourly"]["q"],
                3,
                "instance {}",
                i % 2
            );
            answer.status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);

    // `none` lifts it, whatever the default; unknown values are refused clearly.
    let lifted = billing(
        &db.url,
        &["clients", "limits", &credentials.0, "--quota", "none"],
        b"",
    );
    assert_eq!(lifted.code, 0, "{}", lifted.stderr);
    std::thread::sleep(Duration::from_millis(1500));
    for server in &servers {
        assert_eq!(get(&server.base, &token).status, 200);
    }
    let bad = billing(
        &db.url,
        &["clients", "limits", &credentials.0, "--quota", "3/week"],
        b"",
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("minute, hour, day or month"),
        "{}",
        bad.stderr
    );
    let nobody = billing(
        &db.url,
        &["clients", "limits", "nobody", "--rate", "5/s"],
        b"",
    );
    assert_eq!(nobody.code, 1, "{}", nobody.stderr);
    assert!(
        nobody.stderr.contains("no client `nobody`"),
        "{}",
        nobody.stderr
    );
    let burst_alone = billing(
        &db.url,
        &[
            "clients",
            "limits",
            &credentials.0,
            "--rate",
            "none",
            "--burst",
            "5",
        ],
        b"",
    );
    assert_eq!(burst_alone.code, 1, "{}", burst_alone.stderr);
    assert!(
        burst_alone.stderr.contains("--burst needs a rate"),
        "{}",
        burst_alone.stderr
    );
    let with_burst = billing(
        &db.url,
        &[
            "clients",
            "limits",
            &credentials.0,
            "--rate",
            "5/s",
            "--burst",
            "9",
        ],
        b"",
    );
    assert_eq!(with_burst.code, 0, "{}", with_burst.stderr);
    assert_eq!(with_burst.json_lines()[0]["rate"], "5/s burst 9");
    assert_eq!(with_burst.json_lines()[0]["quota"], "none");
}

#[test]
fn a_restart_keeps_the_quotas_count() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--quota", "10/hour"]);
    if Utc::now().minute() == 59 {
        std::thread::sleep(Duration::from_secs(61));
    }
    let first = ServerProcess::start(&db.url, &[]);
    let token = token(&first, &credentials);
    for _ in 0..6 {
        assert_eq!(get(&first.base, &token).status, 200);
    }
    drop(first);
    let second = ServerProcess::start(&db.url, &[]);
    let statuses: Vec<u16> = (0..6).map(|_| get(&second.base, &token).status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[derive(diesel::QueryableByName)]
struct Commits {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    commits: i64,
}

/// Transactions committed in `db` so far, once every backend's pending statistics are
/// flushed (an idle backend flushes them within 10 s).
fn commits(db: &TestDb) -> i64 {
    std::thread::sleep(Duration::from_millis(11_500));
    diesel::sql_query(
        "SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result::<Commits>(&mut db.connect())
    .expect("statistics")
    .commits
}

#[test]
fn a_flood_of_refusals_runs_no_statement() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--quota", "2/hour", "--rate", "none"]);
    let admin = format!("127.0.0.1:{}", common::process::free_port());
    let log_path = std::env::temp_dir().join(format!(
        "billing-limits-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ));
    let log = std::fs::File::create(&log_path).expect("log file");
    // The token stays cached, and the key ring is not read again, while the flood lasts.
    let server = ServerProcess::start_logging(
        &db.url,
        &[
            ("BILLING_TOKEN_CACHE_SECONDS", "600"),
            ("BILLING_ADMIN_LISTEN", admin.as_str()),
            ("BILLING_LOG_FORMAT", "json"),
            ("RUST_LOG", "access=info"),
        ],
        std::process::Stdio::from(log),
    );
    let token = token(&server, &credentials);
    if Utc::now().minute() == 59 {
        std::thread::sleep(Duration::from_secs(61));
    }
    let statuses: Vec<u16> = (0..3).map(|_| get(&server.base, &token).status).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let before = commits(&db);
    for _ in 0..300 {
        assert_eq!(get(&server.base, &token).status, 429);
    }
    let after = commits(&db);
    // The reads of the statistics themselves commit a few; 300 refusals with SQL would
    // commit 300 or more.
    assert!(
        after - before < 10,
        "{} transactions during 300 refusals",
        after - before
    );

    // Operators see each refusal: counted by client and limit, and named in the access log.
    let metrics = client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .expect("scrape")
        .text()
        .expect("text");
    let refused: f64 = metrics
        .lines()
        .find(|line| {
            line.starts_with("billing_rate_limited_total")
                && line.contains(&credentials.0)
                && line.contains("limit=\"quota\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("the client's refusals are counted: {metrics}"));
    assert_eq!(refused, 301.0);
    drop(server);
    let text = std::fs::read_to_string(&log_path).expect("log");
    let _ = std::fs::remove_file(&log_path);
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["target"] == "access")
        .collect();
    let named = lines
        .iter()
        .filter(|line| line["status"] == 429 && line["refused_by"] == "quota")
        .count();
    assert_eq!(named, 301, "every refusal's access line names the quota");
    assert!(
        lines
            .iter()
            .filter(|line| line["status"] == 200)
            .all(|line| line["refused_by"] == "-"),
        "a served request names no limit"
    );
}

/// Reads the replica has served for the instance whose admin listener is `admin`.
fn replica_reads(admin: &str) -> f64 {
    let text = client()
        .get(format!("{admin}/metrics"))
        .send()
        .expect("scrape")
        .text()
        .expect("text");
    text.lines()
        .find(|line| line.starts_with("billing_db_reads_total") && line.contains("\"replica\""))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn with_the_primary_stopped_the_quota_fails_open_within_its_allowance_and_is_charged_after() {
    use common::process::{Cluster, free_port};
    let primary = Cluster::start();
    let credentials = primary.with_demo_data("fail-open");
    // 200 an hour: an allowance of 10 on the instance's own count while the primary is away.
    let limited = billing(
        &primary.url(),
        &["clients", "limits", &credentials.0, "--quota", "200/hour"],
        b"",
    );
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    let replica = Cluster::replica_of(&primary);
    if Utc::now().minute() == 59 {
        std::thread::sleep(Duration::from_secs(61));
    }
    let admin = format!("127.0.0.1:{}", free_port());
    let replica_url = replica.url();
    let server = ServerProcess::start(
        &primary.url(),
        &[
            ("BILLING_REPLICA_URLS", replica_url.as_str()),
            ("BILLING_REPLICA_MAX_LAG_MS", "500"),
            ("BILLING_ADMIN_LISTEN", admin.as_str()),
            ("BILLING_DB_POOL_TIMEOUT_MS", "1000"),
            ("BILLING_TOKEN_CACHE_SECONDS", "600"),
        ],
    );
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let admin = format!("http://{admin}");
    let token = token(&server, &credentials);
    let started = Instant::now();
    let mut served_before = 0;
    while replica_reads(&admin) == 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the replica was never used"
        );
        assert_eq!(get(&server.base, &token).status, 200);
        served_before += 1;
        std::thread::sleep(Duration::from_millis(100));
    }

    primary.stop();
    let outage: Vec<Answer> = (0..30).map(|_| get(&server.base, &token)).collect();
    let served_in_outage = outage.iter().filter(|a| a.status == 200).count();
    // What was left of the last block, then the allowance of 10; the rest 503, never 429.
    assert!(
        (10..=13).contains(&served_in_outage),
        "{served_in_outage} served with the primary stopped"
    );
    let statuses: Vec<u16> = outage.iter().map(|a| a.status).collect();
    let first_refusal = statuses.iter().position(|s| *s != 200).expect("a refusal");
    assert!(
        statuses[first_refusal..].iter().all(|s| *s == 503),
        "served, then 503 once the allowance is spent: {statuses:?}"
    );
    for answer in outage.iter().filter(|a| a.status == 503) {
        common::assert_error_body(&answer.body, 503);
        assert!(answer.retry_after.is_some(), "Retry-After on a 503");
    }

    primary.restart();
    let back = Instant::now();
    let mut status = 0;
    while status != 200 && back.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        status = get(&server.base, &token).status;
    }
    assert_eq!(status, 200, "the quota is counted on the primary again");
    let used: i64 = diesel::sql_query("SELECT used AS count FROM quota_counts")
        .load::<common_count::Count>(
            &mut diesel::PgConnection::establish(&primary.url()).expect("connect"),
        )
        .expect("count")
        .iter()
        .map(|c| c.count)
        .sum();
    let served = i64::try_from(served_before + served_in_outage + 1).expect("count");
    assert!(
        used >= served,
        "what was served in the outage is charged: {used} counted, {served} served"
    );
}

#[test]
fn a_rate_refusal_when_the_quota_is_spent_too_waits_for_the_next_window() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--quota", "2/hour", "--rate", "1/s"]);
    let server = ServerProcess::start(&db.url, &[]);
    let token = token(&server, &credentials);
    if Utc::now().minute() == 59 {
        std::thread::sleep(Duration::from_secs(61));
    }
    assert_eq!(get(&server.base, &token).status, 200);
    // A second later the rate has room again for the quota's last request.
    std::thread::sleep(Duration::from_millis(1100));
    let last = get(&server.base, &token);
    assert_eq!(last.status, 200);
    assert_eq!(last.limit.as_ref().expect("RateLimit")["hourly"]["r"], 0);
    // At once: the rate refuses, but the quota is spent until the hour ends, and a client
    // told to retry in a second would only be refused again.
    let refused = get(&server.base, &token);
    assert_refusal(&refused, "hourly");
    assert!(
        refused.retry_after.is_some_and(|s| s > 60),
        "Retry-After {:?} is the hour's end",
        refused.retry_after
    );
    assert!(
        refused.body["error"]["developerMessage"]
            .as_str()
            .is_some_and(|m| m.contains("quota")),
        "{}",
        refused.body
    );
}

#[test]
fn limits_out_of_range_are_refused_clearly_and_the_largest_parse_as_structured_fields() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &[]);
    let id = credentials.0.as_str();
    // Each is refused by the command line (2) with the range, never by a table's check.
    for (args, says) in [
        (vec!["--rate", "3000000000/s"], "2147483647"),
        (vec!["--rate", "5/s", "--burst", "3000000000"], "2147483647"),
        (
            vec!["--quota", "9223372036854775807/day"],
            "999999999999999",
        ),
        (vec!["--quota", "1000000000000000/month"], "999999999999999"),
    ] {
        let mut command = vec!["clients", "limits", id];
        command.extend_from_slice(&args);
        let refused = billing(&db.url, &command, b"");
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(says),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("constraint"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    let created = billing(
        &db.url,
        &[
            "clients",
            "create",
            "--name",
            "huge",
            "--all-customers",
            "--rate",
            "2147483648/s",
        ],
        b"",
    );
    assert_eq!(created.code, 2, "{}", created.stderr);

    // The largest accepted limits are served, and their fields are structured fields.
    let largest = billing(
        &db.url,
        &[
            "clients",
            "limits",
            id,
            "--rate",
            "2147483647/s",
            "--quota",
            "999999999999999/month",
        ],
        b"",
    );
    assert_eq!(largest.code, 0, "{}", largest.stderr);
    let server = ServerProcess::start(&db.url, &[]);
    let token = token(&server, &credentials);
    let answer = get(&server.base, &token);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let policy = answer.policy.expect("RateLimit-Policy");
    assert_eq!(policy["monthly"]["q"], 999_999_999_999_999);
    assert!((28 * 86_400..=31 * 86_400).contains(&policy["monthly"]["w"]));
    assert_eq!(policy["rate"]["q"], 2_147_483_647);
    let limit = answer.limit.expect("RateLimit");
    assert_eq!(limit["monthly"]["r"], 999_999_999_999_998);
}

#[test]
fn the_token_endpoint_grants_each_client_a_bounded_number_of_tokens() {
    let db = TestDb::migrated();
    let credentials = client_with(&db, &["--quota", "1/hour"]);
    let other = billing(
        &db.url,
        &["clients", "create", "--name", "other", "--all-customers"],
        b"",
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    let other = &other.json_lines()[0];
    let other = (
        other["client_id"].as_str().expect("id").to_owned(),
        other["client_secret"].as_str().expect("secret").to_owned(),
    );
    let server = ServerProcess::start(&db.url, &[("BILLING_TOKEN_GRANTS_PER_MINUTE", "5")]);
    let ask = |(id, secret): &(String, String)| {
        client()
            .post(format!(
                "{}/oauth/client_credential/accesstoken?grant_type=client_credentials",
                server.base
            ))
            .basic_auth(id, Some(secret))
            .send()
            .expect("token request")
    };
    let statuses: Vec<u16> = (0..8)
        .map(|_| ask(&credentials).status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let refused = ask(&credentials);
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = refused.json().expect("OAuth's JSON");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Only the grants were written; another client is not held back.
    let rows: i64 = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM oauth_tokens WHERE client_id = '{}'",
        credentials.0
    ))
    .get_result::<common_count::Count>(&mut db.connect())
    .expect("count")
    .count;
    assert_eq!(rows, 5);
    assert_eq!(ask(&other).status(), 200);
}
