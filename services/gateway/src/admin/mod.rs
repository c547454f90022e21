//! Tenancy, catalog, runner lifecycle and audit endpoints. Every mutating request is an
//! admin-class decision of the authorizer, so it is authorized and audited like an op.

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use cloudops_api as api;
use cloudops_schemas::{RunnerCredentials, RunnerId, TunnelCredentials, v1};
use cloudops_store::{Role, cloud_resource, connection, principal, runner};
use serde::Serialize;

use crate::{
    ApiError,
    routes::{
        AppState, Authenticated, Body, InOrg, Params, authorize_admin, authorize_admin_in_env,
        authorize_admin_on_connection,
    },
    visibility::{Visibility, audit_read},
};

fn items<T>(v: Vec<T>) -> Json<api::Items<T>> {
    Json(api::Items::from(v))
}

fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn platform_only(who: &Authenticated, what: &str) -> Result<(), ApiError> {
    if who.principal.platform_operator {
        Ok(())
    } else {
        Err(ApiError::new(v1::ErrorCode::PermissionDenied, format!("{what} needs a platform operator")))
    }
}

mod audit;
mod catalog;
mod connections;
mod runners;
mod secrets;
mod tenancy;

pub use audit::*;
pub use catalog::*;
pub use connections::*;
pub use runners::*;
pub use secrets::*;
pub use tenancy::*;
