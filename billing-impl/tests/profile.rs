//! The `profile` tag: `GET /customers/{msisdn}/profile`.

use billing_test_support as common;
use common::{TestApp, assert_error_body};
use serde_json::json;

#[tokio::test]
async fn a_subscriber_profile_is_read_by_msisdn() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(&app.api("/customers/50499002001/profile"), &token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ContractProfileType": {
            "billingAddress": "Barrio El Centro, 1 Calle, 9 Avenida",
            "billingCycle": "MONTHLY-15",
            "city": "La Ceiba",
            "department": "Atlantida"
        }})
    );
}

#[tokio::test]
async fn an_unknown_msisdn_is_a_404_and_a_malformed_one_a_400() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(&app.api("/customers/50400000000/profile"), &token)
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
    for msisdn in ["+50499002001", "5049900200x", "1000000000000000"] {
        let (status, body) = app
            .get(&app.api(&format!("/customers/{msisdn}/profile")), &token)
            .await;
        assert_eq!(status, 400, "{msisdn}: {body}");
        assert_error_body(&body, 400);
    }
}
