//! A client of the API as any partner back end would write one: it obtains a token with
//! the `oauth2` crate's client-credentials flow, then lists all of a customer's bills,
//! page by page, following each page's `Link: <...>; rel="next"` until the last, and
//! checks that it got as many as `X-Total-Count` said.
//!
//! ```sh
//! BILLING_URL=http://127.0.0.1:8080 CLIENT_ID=... CLIENT_SECRET=... \
//!     cargo run -p billing-impl --example list_bills -- CLIENT_CODE 1001
//! ```

use oauth2::{AuthUrl, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl, basic::BasicClient};

type Error = Box<dyn std::error::Error>;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base = std::env::var("BILLING_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let mut args = std::env::args().skip(1);
    let id_type = args.next().unwrap_or_else(|| "CLIENT_CODE".to_owned());
    let id = args.next().unwrap_or_else(|| "1001".to_owned());

    let client = BasicClient::new(ClientId::new(env("CLIENT_ID")?))
        .set_client_secret(ClientSecret::new(env("CLIENT_SECRET")?))
        // The client-credentials flow never visits an authorization URL; the crate wants one.
        .set_auth_uri(AuthUrl::new(format!("{base}/oauth/authorize"))?)
        .set_token_uri(TokenUrl::new(format!(
            "{base}/oauth/client_credential/accesstoken"
        ))?);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".to_owned()))
        .request_async(&http)
        .await?;

    let mut next = Some(format!(
        "/v2/billing/customers/{id_type}/{id}/bills?quantity=5"
    ));
    let (mut listed, mut total) = (0, None);
    while let Some(page) = next.take() {
        let response = http
            .get(format!("{base}{page}"))
            .bearer_auth(token.access_token().secret())
            .send()
            .await?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        total = header("x-total-count").and_then(|count| count.parse::<usize>().ok());
        let links = parse_link_header::parse_with_rel(&header("link").unwrap_or_default())?;
        next = links.get("next").map(|link| link.raw_uri.clone());
        let body: serde_json::Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("{status}: {body}").into());
        }
        for invoice in body["invoice"].as_array().into_iter().flatten() {
            listed += 1;
            println!(
                "{}  {}  {:>10}  {}",
                invoice["billDate"].as_str().unwrap_or("?"),
                invoice["invoiceNumber"].as_str().unwrap_or("?"),
                invoice["invoiceAmount"],
                invoice["invoiceStatus"].as_str().unwrap_or("?"),
            );
        }
    }
    if total != Some(listed) {
        return Err(format!("listed {listed} bills where X-Total-Count said {total:?}").into());
    }
    println!("{listed} bills");
    Ok(())
}
