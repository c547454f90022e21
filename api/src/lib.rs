//! The HTTP API's contract: every JSON body the gateway takes or answers with, as serde types
//! the gateway serializes and the CLI deserializes, each with its OpenAPI schema (`utoipa`).
//! The document itself (paths, statuses, security) is assembled in the gateway, beside the
//! handlers (`gateway/src/openapi.rs`), and served at `/v1/openapi.json`.
//!
//! Rules of the contract:
//! - Times are RFC 3339 in UTC (`chrono::DateTime<Utc>`, spelled out: the schema derive knows
//!   the type by its name).
//! - Field names are the wire names; a missing value is `null`, never an absent key (the
//!   console and `-o json` users read nulls).
//! - Request bodies refuse unknown fields, so a typo is an error that names the field.
//! - Every error has one shape, [`ErrorResponse`], and one status per code ([`ErrorCode::status`]).

mod audit;
mod catalog;
mod connections;
mod error;
mod identity;
mod ops;
mod runners;
mod sign_in;
mod tenancy;

pub use audit::*;
pub use catalog::*;
pub use connections::*;
pub use error::*;
pub use identity::*;
pub use ops::*;
pub use runners::*;
use serde::{Deserialize, Serialize};
pub use sign_in::*;
pub use tenancy::*;
use utoipa::ToSchema;

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(items: Vec<T>) -> Self {
        Self { items }
    }
}
