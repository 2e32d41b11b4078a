//! The Selfcare API Billing server: the contract generated into `billing-api`, served
//! from PostgreSQL (diesel over an r2d2 pool) behind OAuth 2.0 client credentials.
//!
//! A request goes: `server` and `middleware` (request id, limits, token endpoint, health) → the generated routing
//! of `billing_api::server` (parameters, scopes) → `auth` (bearer token) → `api::<tag>`
//! (the operation) → `db::<table>` (queries) → `error` (every failure as an `errorBody`).

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod seed;
pub mod server;
