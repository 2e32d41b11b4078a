//! The HTTP layer below the operations: what every request and answer goes through,
//! whatever the operation. `middleware` (request ids, limits, `errorBody` in place of
//! actix-web's own errors, metrics and the access log), `compression` (br and gzip, and the
//! one predicate of what is compressed), and `conditional` (tags and conditional GETs, the
//! one helper every GET answers through). Nothing here knows the operations (`api`).

pub mod compression;
pub mod conditional;
pub mod middleware;
