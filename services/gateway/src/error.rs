//! The gateway's one error type. Its code maps to an HTTP status and to the protobuf error code.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use cloudops_schemas::v1::{self, ErrorCode};
use serde_json::json;

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
            Db(_) => ErrorCode::Unavailable,
            Seal(_) => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

pub fn code_name(code: ErrorCode) -> &'static str {
    code.as_str_name()
}

pub fn http_status(e: &v1::Error) -> StatusCode {
    match e.code() {
        ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RunnerNotConnected | ErrorCode::NoRunner | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::RunnerTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Upstream => match StatusCode::from_u16(e.upstream_status as u16) {
            Ok(s) if s.is_client_error() => s,
            _ => StatusCode::BAD_GATEWAY,
        },
        ErrorCode::Internal | ErrorCode::Unspecified => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body = json!({"error": {"code": code_name(e.code()), "message": e.message}});
        if e.upstream_status != 0 {
            body["error"]["upstream_status"] = json!(e.upstream_status);
            body["error"]["upstream_reason"] = json!(e.upstream_reason);
        }
        (http_status(&e), Json(body)).into_response()
    }
}
