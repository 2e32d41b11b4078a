//! The part of the contract's server that does not vary with the spec, called by the code
//! `make generate` writes into `generated/`: what the generated routes parse, validate,
//! refuse and answer with. The generated code decides only what the spec decides (which
//! parameters an operation has, their types and constraints, its statuses); everything
//! here is ordinary Rust, formatted, linted and tested like the rest of the workspace.
//!
//! Refusals are [`ContractError`]s. The implementation's error type converts them
//! (`From<ContractError>`) and writes every error answer itself, so that one place decides
//! status, headers and body.

mod auth;
mod body;
pub mod date;
mod error;
mod params;
mod wire_enum;

pub use auth::{Authentication, authorize};
pub use body::{AnswerHeaders, MAX_BODY_BYTES, json_answer, json_body};
pub use error::{ContractError, refuse};
pub use params::{
    Kind, QueryString, Violation, WireNames, header_param, path_param, pattern, present,
    required_header, validated, violation,
};
pub use wire_enum::{WireEnum, parse_enum};
