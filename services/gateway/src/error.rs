//! The gateway's one error type. Its code maps to an HTTP status and to the protobuf error code.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use cloudops_schemas::v1::{self, ErrorCode};

#[derive(Debug)]
pub struct ApiError(pub v1::Error);

impl ApiError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self(v1::Error::new(code, msg))
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, msg)
    }
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Unavailable, e.to_string())
    }
}

impl From<v1::Error> for ApiError {
    fn from(e: v1::Error) -> Self {
        Self(e)
    }
}

impl From<cloudops_store::StoreError> for ApiError {
    fn from(e: cloudops_store::StoreError) -> Self {
        use cloudops_store::StoreError::*;
        let code = match &e {
            NotFound { .. } => ErrorCode::NotFound,
            Conflict(_) => ErrorCode::Conflict,
            Invalid(_) => ErrorCode::InvalidArgument,
            Db(_) | Busy(_) => ErrorCode::Unavailable,
            Seal(_) => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

pub fn http_status(e: &v1::Error) -> StatusCode {
    let code = cloudops_api::ErrorCode::from(e.code());
    StatusCode::from_u16(code.status(e.upstream_status)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (http_status(&self.0), Json(cloudops_api::ErrorResponse::from(&self.0))).into_response()
    }
}
