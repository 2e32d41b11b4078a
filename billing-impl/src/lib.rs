//! The Selfcare API Billing server: the contract generated into `billing-api`, served
//! from PostgreSQL (diesel over r2d2 pools) behind OAuth 2.0 client credentials.
//!
//! A request goes: `server` (the token endpoint, health, the served contract in `docs`)
//! and `http` (metrics and access log, request id, limits, compression) → the generated
//! routing of `billing_api::server`, which calls `contract_runtime` (parameters, scopes) →
//! `auth` (bearer token, customer scope) → `api::<tag>` (the operation) →
//! `db::replicas::Reads` and `db::Database` (replica or primary, the queue of its threads,
//! retries) → `db::<table>` (queries) → `error` (every failure as an `errorBody`).

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod http;
pub mod importer;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod seed;
pub mod server;
