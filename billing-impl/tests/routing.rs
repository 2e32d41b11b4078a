//! The generated routing, over a small in-test implementation of the traits: every
//! operation is reachable at its path and method, every kind of rejection answers its
//! status with an `errorBody`, and a missing or insufficient scope is refused before the
//! implementation is called.

use billing_test_support as common;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpServer, web};
use billing_api::{
    apis::{
        Authentication,
        billing::{Billing, FindCustomerBillsByClientCodeResponse},
        billing_group::{
            BillingGroup, CreateBillingGroupResponse, DeleteBillingGroupByQueryResponse,
            DeleteBillingGroupResponse, FindCustomerBillsByClientCodeAndBillingGroupResponse,
            ListBillingGroupsResponse, UpdateBillingGroupResponse,
        },
        profile::{GetClientAccountGeneralInfoResponse, Profile},
    },
    models,
    server::configure,
};
use billing_impl::{
    error::{ApiError, TokenProblem},
    http::middleware::json_errors,
};
use common::assert_error_body;
use reqwest::Method;
use serde_json::{Value, json};

/// Records which operations were called; tokens are the literal scope lists.
#[derive(Default)]
struct FakeApi {
    calls: Mutex<Vec<&'static str>>,
}

impl FakeApi {
    fn called(&self, operation: &'static str) {
        self.calls.lock().expect("calls").push(operation);
    }
}

fn refused(problem: TokenProblem) -> ApiError {
    ApiError::Token {
        problem,
        realm: "test".to_owned(),
    }
}

impl Authentication for FakeApi {
    type Caller = Vec<String>;
    type Error = ApiError;

    async fn authenticate(
        &self,
        request: &actix_web::HttpRequest,
    ) -> Result<Vec<String>, ApiError> {
        let header = request
            .headers()
            .get("authorization")
            .ok_or(refused(TokenProblem::Missing))?;
        let scopes = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer "));
        let scopes = scopes.ok_or(refused(TokenProblem::Malformed))?;
        Ok(scopes.split(',').map(str::to_owned).collect())
    }

    fn has_scope(caller: &Vec<String>, scope: &str) -> bool {
        caller.iter().any(|granted| granted == scope)
    }

    fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        ApiError::InsufficientScope {
            scope,
            realm: "test".to_owned(),
        }
    }
}

fn empty_bills() -> models::BillCollection {
    models::BillCollection {
        invoice: Vec::new(),
    }
}

fn group(body_group: Option<String>, address: String) -> models::BillingGroupRequest {
    models::BillingGroupRequest {
        address,
        group_id: body_group.or(Some("G1".into())),
    }
}

/// The headers of a page of bills, as the implementation would give them.
fn page_headers() -> (String, String, String, i64) {
    (
        "private, no-cache".to_owned(),
        "\"tag\"".to_owned(),
        "</bills?pageInit=0&quantity=20>; rel=\"first\"".to_owned(),
        0,
    )
}

impl Billing for FakeApi {
    async fn find_customer_bills_by_client_code(
        &self,
        _: Vec<String>,
        _: models::FindCustomerBillsByClientCodePathParams,
        query: models::FindCustomerBillsByClientCodeQueryParams,
        _: models::FindCustomerBillsByClientCodeHeaderParams,
    ) -> Result<FindCustomerBillsByClientCodeResponse, ApiError> {
        self.called("findCustomerBillsByClientCode");
        // The defaults of the spec reach the implementation.
        assert_eq!((query.page_init, query.quantity), (0, 20));
        let (cache_control, e_tag, link, x_total_count) = page_headers();
        Ok(FindCustomerBillsByClientCodeResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: empty_bills(),
            cache_control,
            e_tag,
            x_total_count,
            link,
        })
    }
}

impl BillingGroup for FakeApi {
    async fn find_customer_bills_by_client_code_and_billing_group(
        &self,
        _: Vec<String>,
        _: models::FindCustomerBillsByClientCodeAndBillingGroupPathParams,
        _: models::FindCustomerBillsByClientCodeAndBillingGroupQueryParams,
        _: models::FindCustomerBillsByClientCodeAndBillingGroupHeaderParams,
    ) -> Result<FindCustomerBillsByClientCodeAndBillingGroupResponse, ApiError> {
        self.called("findCustomerBillsByClientCodeAndBillingGroup");
        let (cache_control, e_tag, link, x_total_count) = page_headers();
        Ok(FindCustomerBillsByClientCodeAndBillingGroupResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: empty_bills(),
            cache_control,
            e_tag,
            x_total_count,
            link,
        })
    }

    async fn list_billing_groups(
        &self,
        _: Vec<String>,
        _: models::ListBillingGroupsPathParams,
        _: models::ListBillingGroupsHeaderParams,
    ) -> Result<ListBillingGroupsResponse, ApiError> {
        self.called("listBillingGroups");
        let (cache_control, e_tag, ..) = page_headers();
        Ok(ListBillingGroupsResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: models::BillingGroupCollection {
                billing_group: vec![],
            },
            cache_control,
            e_tag,
        })
    }

    async fn create_billing_group(
        &self,
        _: Vec<String>,
        _: models::CreateBillingGroupPathParams,
        _: models::CreateBillingGroupHeaderParams,
        body: models::BillingGroupRequest,
    ) -> Result<CreateBillingGroupResponse, ApiError> {
        self.called("CreateBillingGroup");
        Ok(CreateBillingGroupResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: group(body.group_id, body.address),
            idempotent_replayed: None,
        })
    }

    async fn update_billing_group(
        &self,
        _: Vec<String>,
        _: models::UpdateBillingGroupPathParams,
        _: models::UpdateBillingGroupHeaderParams,
        body: models::BillingGroupUpdate,
    ) -> Result<UpdateBillingGroupResponse, ApiError> {
        self.called("UpdateBillingGroup");
        Ok(UpdateBillingGroupResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: group(Some(body.group_id), body.address),
            idempotent_replayed: None,
        })
    }

    async fn delete_billing_group(
        &self,
        _: Vec<String>,
        path: models::DeleteBillingGroupPathParams,
        _: models::DeleteBillingGroupHeaderParams,
    ) -> Result<DeleteBillingGroupResponse, ApiError> {
        self.called("DeleteBillingGroup");
        Ok(DeleteBillingGroupResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: group(Some(path.group_id), "gone".into()),
            idempotent_replayed: None,
        })
    }

    async fn delete_billing_group_by_query(
        &self,
        _: Vec<String>,
        _: models::DeleteBillingGroupByQueryPathParams,
        query: models::DeleteBillingGroupByQueryQueryParams,
        _: models::DeleteBillingGroupByQueryHeaderParams,
    ) -> Result<DeleteBillingGroupByQueryResponse, ApiError> {
        self.called("DeleteBillingGroupByQuery");
        Ok(DeleteBillingGroupByQueryResponse::Ok {
            rate_limit: None,
            rate_limit_policy: None,
            body: group(Some(query.group_id), "gone".into()),
            idempotent_replayed: Some("true".to_owned()),
        })
    }
}

impl Profile for FakeApi {
    async fn get_client_account_general_info(
        &self,
        _: Vec<String>,
        _: models::GetClientAccountGeneralInfoPathParams,
        _: models::GetClientAccountGeneralInfoHeaderParams,
    ) -> Result<GetClientAccountGeneralInfoResponse, ApiError> {
        self.called("getClientAccountGeneralInfo");
        Err::<GetClientAccountGeneralInfoResponse, _>(ApiError::NotFound(
            "no such subscriber".into(),
        ))
    }
}

/// The generated routing over a `FakeApi`, served over real HTTP on a free port.
struct Served {
    base: String,
    api: Arc<FakeApi>,
    http: reqwest::Client,
}

impl Served {
    async fn start() -> Self {
        Self::start_under(billing_api::BASE_PATH).await
    }

    /// Served under `base_path`; requests name paths below it.
    async fn start_under(base_path: &'static str) -> Self {
        let api = web::Data::new(FakeApi::default());
        let shared = api.clone().into_inner();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(json_errors())
                .configure(|cfg| configure(cfg, api.clone(), base_path))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind");
        let base = format!("http://{}{base_path}", server.addrs()[0]);
        tokio::spawn(server.run());
        Self {
            base,
            api: shared,
            http: reqwest::Client::new(),
        }
    }

    fn calls(&self) -> Vec<&'static str> {
        self.api.calls.lock().expect("calls").clone()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_owned());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("JSON body, got {status}: {text}"));
        (status, json, headers)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, body, _) = self.send(Method::GET, path, Some("read,write"), None).await;
        (status, body)
    }
}

const JSON: &str = "application/json";

#[tokio::test]
async fn every_operation_is_reachable_at_its_path_and_method() {
    let served = Served::start().await;
    let group = json!({"address": "Col. Palmira", "groupId": "G1"}).to_string();
    let cases: [(Method, &str, Option<&str>, u16, &str); 8] = [
        (
            Method::GET,
            "/customers/CLIENT_CODE/1/bills",
            None,
            200,
            "findCustomerBillsByClientCode",
        ),
        (
            Method::GET,
            "/customers/CLIENT_CODE/1/bills/groups/G1",
            None,
            200,
            "findCustomerBillsByClientCodeAndBillingGroup",
        ),
        (
            Method::GET,
            "/customers/50499001001/profile",
            None,
            404,
            "getClientAccountGeneralInfo",
        ),
        (
            Method::GET,
            "/customers/CLIENT_CODE/1/bills/groups",
            None,
            200,
            "listBillingGroups",
        ),
        (
            Method::POST,
            "/customers/CLIENT_CODE/1/bills/groups",
            Some(&group),
            200,
            "CreateBillingGroup",
        ),
        (
            Method::PUT,
            "/customers/CLIENT_CODE/1/bills/groups",
            Some(&group),
            200,
            "UpdateBillingGroup",
        ),
        (
            Method::DELETE,
            "/customers/CLIENT_CODE/1/bills/groups/G1",
            None,
            200,
            "DeleteBillingGroup",
        ),
        (
            Method::DELETE,
            "/customers/CLIENT_CODE/1/bills/groups?groupId=G1",
            None,
            200,
            "DeleteBillingGroupByQuery",
        ),
    ];
    for (method, path, body, expected, operation) in cases {
        let (status, json, _) = served
            .send(
                method.clone(),
                path,
                Some("read,write"),
                body.map(|b| (JSON, b)),
            )
            .await;
        assert_eq!(status, expected, "{method} {path}: {json}");
        assert_eq!(served.calls().last(), Some(&operation), "{method} {path}");
    }
    assert_eq!(served.calls().len(), 8);
}

#[tokio::test]
async fn a_malformed_or_out_of_range_parameter_is_a_400_naming_it() {
    let served = Served::start().await;
    let cases = [
        ("/customers/CLIENT_CODE/abc/bills", "`id`"),
        ("/customers/CLIENT_CODE/-1/bills", "`id`"),
        ("/customers/CLIENT_CODE/9223372036854775808/bills", "`id`"),
        ("/customers/1CLIENT/1/bills", "`idType`"),
        (
            "/customers/CLIENT_CODE_WITH_FAR_TOO_MANY_LETTERS_X/1/bills",
            "`idType`",
        ),
        ("/customers/CLIENT_CODE/1/bills?quantity=0", "`quantity`"),
        ("/customers/CLIENT_CODE/1/bills?quantity=101", "`quantity`"),
        (
            "/customers/CLIENT_CODE/1/bills?quantity=1000000000",
            "`quantity`",
        ),
        ("/customers/CLIENT_CODE/1/bills?pageInit=x", "`pageInit`"),
        (
            "/customers/CLIENT_CODE/1/bills?pageInit=1&pageInit=2",
            "`pageInit`",
        ),
        ("/customers/CLIENT_CODE/1/bills?start=2026", "`start`"),
        ("/customers/CLIENT_CODE/1/bills?end=99999999", "`end`"),
        ("/customers/CLIENT_CODE/1/bills?status=LOST", "`status`"),
        (
            "/customers/CLIENT_CODE/1/bills?contractNumber=1e3",
            "`contractNumber`",
        ),
        ("/customers/CLIENT_CODE/1/bills/groups/-G1", "`groupId`"),
        ("/customers/1000000000000000/profile", "`msisdn`"),
        ("/customers/CLIENT_CODE/1/bills/groups", "`groupId`"),
        (
            "/customers/CLIENT_CODE/1/bills/groups?groupId=-G1",
            "`groupId`",
        ),
    ];
    for (path, named) in cases {
        let method = if path.contains("/bills/groups?") || path.ends_with("/bills/groups") {
            Method::DELETE
        } else {
            Method::GET
        };
        let (status, body, _) = served.send(method, path, Some("read,write"), None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error_body(&body, 400);
        let message = body["error"]["developerMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(named), "{path}: {message} names {named}");
    }
    assert!(
        served.calls().is_empty(),
        "no operation ran: {:?}",
        served.calls()
    );
}

#[tokio::test]
async fn a_bad_body_or_content_type_is_refused_with_an_error_body() {
    let served = Served::start().await;
    let path = "/customers/CLIENT_CODE/1/bills/groups";
    let oversized = json!({"address": "x".repeat(20_000)}).to_string();
    let cases: [(Option<(&str, &str)>, u16); 10] = [
        (None, 415),
        (Some(("text/plain", r#"{"address": "x"}"#)), 415),
        (Some((JSON, "")), 400),
        (Some((JSON, r#"{"address": "#)), 400),
        (Some((JSON, r#"{"address": "x", "colour": "red"}"#)), 400),
        (Some((JSON, r#"{"groupId": "G1"}"#)), 400),
        (Some((JSON, r#"{"address": "x", "groupId": null}"#)), 400),
        (Some((JSON, r#"{"address": "a\u0000b"}"#)), 400),
        (
            Some((JSON, r#"{"address": "x", "groupId": "no spaces allowed"}"#)),
            400,
        ),
        (Some((JSON, &oversized)), 413),
    ];
    for (body, expected) in cases {
        let (status, json, _) = served
            .send(Method::POST, path, Some("read,write"), body)
            .await;
        assert_eq!(status, expected, "{body:?}: {json}");
        assert_error_body(&json, expected);
    }
    let (status, json, _) = served
        .send(
            Method::PUT,
            path,
            Some("read,write"),
            Some((JSON, r#"{"address": "x"}"#)),
        )
        .await;
    assert_eq!(status, 400, "PUT needs a groupId: {json}");
    assert!(
        json["error"]["developerMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("groupId")
    );
    assert!(
        served.calls().is_empty(),
        "no operation ran: {:?}",
        served.calls()
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_and_a_wrong_method_a_405_with_allow() {
    let served = Served::start().await;
    let (status, body) = served.get("/customers/CLIENT_CODE/1/invoices").await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);

    let (status, body, headers) = served
        .send(
            Method::PATCH,
            "/customers/CLIENT_CODE/1/bills/groups",
            Some("read,write"),
            None,
        )
        .await;
    assert_eq!(status, 405);
    assert_error_body(&body, 405);
    assert_eq!(headers["allow"], "DELETE, GET, POST, PUT");

    let (status, _, headers) = served
        .send(
            Method::POST,
            "/customers/50499001001/profile",
            Some("read,write"),
            None,
        )
        .await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET");
}

#[tokio::test]
async fn a_missing_or_insufficient_scope_is_refused_before_the_implementation_runs() {
    let served = Served::start().await;
    let body = json!({"address": "x", "groupId": "G1"}).to_string();
    let (status, json, _) = served
        .send(Method::GET, "/customers/CLIENT_CODE/1/bills", None, None)
        .await;
    assert_eq!(status, 401);
    assert_error_body(&json, 401);
    let (status, _, _) = served
        .send(
            Method::GET,
            "/customers/CLIENT_CODE/1/bills",
            Some("write"),
            None,
        )
        .await;
    assert_eq!(status, 403, "a write-only token cannot read");
    for method in [Method::POST, Method::PUT] {
        let (status, json, _) = served
            .send(
                method,
                "/customers/CLIENT_CODE/1/bills/groups",
                Some("read"),
                Some((JSON, &body)),
            )
            .await;
        assert_eq!(status, 403);
        assert_error_body(&json, 403);
    }
    let (status, _, _) = served
        .send(
            Method::DELETE,
            "/customers/CLIENT_CODE/1/bills/groups/G1",
            Some("read"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        served.calls().is_empty(),
        "no operation ran: {:?}",
        served.calls()
    );
}

#[tokio::test]
async fn the_api_is_served_under_the_base_path_it_is_given() {
    let served = Served::start_under("/v2/tigo/b2b/hn/billing").await;
    let (status, body) = served.get("/customers/CLIENT_CODE/1/bills").await;
    assert_eq!(status, 200, "{body}");
    let default_base = served
        .base
        .replace("/v2/tigo/b2b/hn/billing", billing_api::BASE_PATH);
    let response = served
        .http
        .get(format!("{default_base}/customers/CLIENT_CODE/1/bills"))
        .bearer_auth("read")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("JSON");
    assert_error_body(&body, 404);
    assert_eq!(served.calls(), ["findCustomerBillsByClientCode"]);
}

#[test]
fn the_contract_check_of_the_tests_refuses_a_body_that_breaks_the_schema() {
    let url = "http://127.0.0.1:1/v2/billing/customers/CLIENT_CODE/1/bills";
    common::contract::check_response("GET", url, 200, &json!({"invoice": []}));
    let impossible_date = json!({"invoice": [{
        "invoiceNumber": "1", "billDate": "2026-02-31", "invoiceAmount": 1,
        "invoiceBalace": 1, "invoiceStatus": "OPEN"
    }]});
    for broken in [
        json!({"invoices": []}),
        json!({"invoice": [{"invoiceNumber": "1"}]}),
        impossible_date,
    ] {
        let outcome =
            std::panic::catch_unwind(|| common::contract::check_response("GET", url, 200, &broken));
        assert!(outcome.is_err(), "refused: {broken}");
    }
    let outcome = std::panic::catch_unwind(|| {
        common::contract::check_response("GET", url, 404, &json!({"error": {}}))
    });
    assert!(
        outcome.is_err(),
        "an errorBody needs statusCode and message"
    );
}
