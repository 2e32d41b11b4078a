//! OAuth 2.0 client credentials at the token endpoint (RFC 6749 §4.4, §5): tokens issued,
//! requests refused, failed authentications throttled, and secrets stored so that a dump of
//! the database holds none.

use billing_test_support as common;

use billing_impl::auth::token_endpoint::TOKEN_PATH;
use common::{TestApp, status_and_json};
use diesel::{RunQueryDsl, connection::SimpleConnection};

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";

#[tokio::test]
async fn the_token_endpoint_issues_a_bearer_token_by_basic_authentication() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read", "write"]);
    let before = chrono::Utc::now().timestamp_millis();
    let (status, body, headers) = app
        .token_request(Some((&id, &secret)), "?grant_type=client_credentials", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["client_id"], id.as_str());
    let issued_at = body["issued_at"]
        .as_i64()
        .expect("issued_at in milliseconds");
    assert!(issued_at >= before && issued_at <= chrono::Utc::now().timestamp_millis());
    assert!(
        body["access_token"].as_str().is_some_and(|t| t.len() >= 43),
        "256 random bits"
    );
    assert!(body.get("refresh_token").is_none());
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
}

#[tokio::test]
async fn form_fields_authenticate_too_and_grant_type_may_come_in_the_body() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = app.token_request(None, "", &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    let (status, _) = app.get(&app.api(BILLS), token).await;
    assert_eq!(
        status, 404,
        "the token is accepted; customer 1001 does not exist here"
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_as_rfc_6749_says() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let grant = "?grant_type=client_credentials";

    let (status, body, headers) = app.token_request(Some((&id, "wrong")), grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .is_ok_and(|h| h.starts_with("Basic"))
    );

    let (status, body, _) = app.token_request(Some(("nobody", "x")), grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, body, _) = app.token_request(None, grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no credentials"
    );

    let (status, body, _) = app
        .token_request(Some((&id, &secret)), "?grant_type=password", &[])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, body, _) = app.token_request(Some((&id, &secret)), "", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "no grant_type"
    );

    let (status, body, _) = app
        .token_request(Some((&id, &secret)), grant, &[("scope", "write")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "beyond the client's scopes"
    );

    let (status, body, _) = app
        .token_request(Some((&id, &secret)), grant, &[("scope", "admin")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let both = [
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = app.token_request(Some((&id, &secret)), grant, &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "two methods"
    );
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn percent_encoded_basic_credentials_are_decoded_as_rfc_6749_says() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    // openid-client's client_secret_basic: each part form-urlencoded, `-_.~` included
    // (ids and secrets are base64url). Any character may be encoded, so the secret is
    // encoded whole, to hold an encoded character whatever the random draw.
    let encode = |value: &str, keep_alphanumerics: bool| -> String {
        value
            .bytes()
            .map(|b| match b {
                b if keep_alphanumerics && b.is_ascii_alphanumeric() => char::from(b).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let (encoded_id, encoded_secret) = (encode(&id, true), encode(&secret, false));
    let grant = "?grant_type=client_credentials";
    let (status, body, _) = app
        .token_request(Some((&encoded_id, &encoded_secret)), grant, &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = app.token_request(Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "unencoded credentials still work: {body}");
}

#[tokio::test]
async fn failed_authentications_lock_out_their_address_not_the_client_elsewhere() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let grant = "?grant_type=client_credentials";
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client on 127.0.0.2");
    let from_elsewhere = |secret: String| {
        let request = elsewhere
            .post(format!("{}{grant}", app.url(TOKEN_PATH)))
            .basic_auth(&id, Some(secret));
        async move {
            let response = request.send().await.expect("token request");
            let retry_after = response.headers().get("retry-after").cloned();
            let (status, body) = status_and_json("POST", response).await;
            (status, body, retry_after)
        }
    };
    for _ in 0..5 {
        let (status, _, _) = from_elsewhere("guess".to_owned()).await;
        assert_eq!(status, 401);
    }
    let (status, body, retry_after) = from_elsewhere(secret.clone()).await;
    assert_eq!(status, 429, "that address is locked out: {body}");
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "OAuth's JSON: {body}"
    );
    assert_eq!(retry_after.expect("Retry-After"), "60");

    let (status, body, _) = app.token_request(Some((&id, &secret)), grant, &[]).await;
    assert_eq!(
        status, 200,
        "the right secret from another address gets in: {body}"
    );
}

#[tokio::test]
async fn a_failure_behind_the_token_endpoint_is_a_server_error_not_an_outage() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    // A statement that fails for its own sake: the table it writes is gone.
    app.db
        .connect()
        .batch_execute("DROP TABLE oauth_tokens")
        .expect("drop");
    let (status, body, headers) = app
        .token_request(Some((&id, &secret)), "?grant_type=client_credentials", &[])
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "server_error");
    assert!(!headers.contains_key("retry-after"));
    assert!(
        !body.to_string().contains("oauth_tokens"),
        "nothing internal: {body}"
    );
}

#[tokio::test]
async fn an_unreachable_database_at_the_token_endpoint_is_temporarily_unavailable() {
    let app = TestApp::over_unreachable_database().await;
    let (status, body, headers) = app
        .token_request(
            Some(("some-client", "some-secret")),
            "?grant_type=client_credentials",
            &[],
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(headers["retry-after"], "2");
}

#[tokio::test]
async fn a_client_whose_secret_is_an_argon2id_hash_gets_tokens_and_its_hash_is_upgraded() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("hash")
        .to_string();
    let stored = |conn: &mut diesel::PgConnection| -> String {
        #[derive(diesel::QueryableByName)]
        struct Hash {
            #[diesel(sql_type = diesel::sql_types::Text)]
            secret_hash: String,
        }
        diesel::sql_query("SELECT secret_hash FROM oauth_clients WHERE client_id = $1")
            .bind::<diesel::sql_types::Text, _>(&id)
            .get_result::<Hash>(conn)
            .expect("client")
            .secret_hash
    };
    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE oauth_clients SET secret_hash = $1 WHERE client_id = $2")
        .bind::<diesel::sql_types::Text, _>(&argon2)
        .bind::<diesel::sql_types::Text, _>(&id)
        .execute(&mut conn)
        .expect("store an Argon2id hash, as before");
    let grant = "?grant_type=client_credentials";
    let (status, body, _) = app.token_request(Some((&id, "wrong")), grant, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        stored(&mut conn).starts_with("$argon2id$"),
        "a wrong secret upgrades nothing"
    );
    let (status, body, _) = app.token_request(Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        stored(&mut conn).starts_with("$sha256$"),
        "upgraded to a digest"
    );
    let (status, body, _) = app.token_request(Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "and the digest works: {body}");
}

#[tokio::test]
async fn a_dump_of_the_clients_and_tokens_holds_no_usable_secret_or_token() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read", "write"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let dump = std::process::Command::new("pg_dump")
        .args([
            "--data-only",
            "--table=oauth_clients",
            "--table=oauth_tokens",
            &app.db.url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains(&id), "the dump is of the right tables");
    assert!(dump.contains("$sha256$"), "secrets are digests");
    assert!(!dump.contains(&secret), "no client secret in the dump");
    assert!(!dump.contains(&token), "no access token in the dump");
}
