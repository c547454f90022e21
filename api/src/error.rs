//! The one error shape: `{"error": {"code", "message"[, "upstream_status", "upstream_reason"]}}`.

use cloudops_schemas::v1;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What went wrong, for people: names the field, object or permission at fault.
    pub message: String,
    /// When `code` is `UPSTREAM`: the HTTP status the cloud API (Kubernetes, AWS, ...) answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u32>,
    /// When `code` is `UPSTREAM`: the cloud API's reason (Kubernetes `NotFound`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_reason: Option<String>,
}

/// The error codes of the wire contract (`cloudops.v1.ErrorCode`), by their protobuf names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    #[serde(rename = "ERROR_CODE_UNSPECIFIED")]
    Unspecified,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    PermissionDenied,
    RunnerNotConnected,
    RunnerTimeout,
    Upstream,
    Conflict,
    Unavailable,
    Internal,
    NoRunner,
}

impl From<v1::ErrorCode> for ErrorCode {
    fn from(c: v1::ErrorCode) -> Self {
        use v1::ErrorCode as C;
        match c {
            C::Unspecified => Self::Unspecified,
            C::InvalidArgument => Self::InvalidArgument,
            C::NotFound => Self::NotFound,
            C::Unauthenticated => Self::Unauthenticated,
            C::PermissionDenied => Self::PermissionDenied,
            C::RunnerNotConnected => Self::RunnerNotConnected,
            C::RunnerTimeout => Self::RunnerTimeout,
            C::Upstream => Self::Upstream,
            C::Conflict => Self::Conflict,
            C::Unavailable => Self::Unavailable,
            C::Internal => Self::Internal,
            C::NoRunner => Self::NoRunner,
        }
    }
}

impl ErrorCode {
    /// The wire name (`NOT_FOUND`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "ERROR_CODE_UNSPECIFIED",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::RunnerNotConnected => "RUNNER_NOT_CONNECTED",
            Self::RunnerTimeout => "RUNNER_TIMEOUT",
            Self::Upstream => "UPSTREAM",
            Self::Conflict => "CONFLICT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::NoRunner => "NO_RUNNER",
        }
    }

    /// The HTTP status of this code. `UPSTREAM` keeps the cloud API's 4xx, and is 502 otherwise.
    pub fn status(self, upstream_status: u32) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::NotFound => 404,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::Conflict => 409,
            Self::RunnerNotConnected | Self::NoRunner | Self::Unavailable => 503,
            Self::RunnerTimeout => 504,
            Self::Upstream if (400..500).contains(&upstream_status) => upstream_status as u16,
            Self::Upstream => 502,
            Self::Internal | Self::Unspecified => 500,
        }
    }
}

impl From<&v1::Error> for ErrorResponse {
    fn from(e: &v1::Error) -> Self {
        let upstream = e.upstream_status != 0;
        Self {
            error: ErrorBody {
                code: e.code().into(),
                message: e.message.clone(),
                upstream_status: upstream.then_some(e.upstream_status),
                upstream_reason: upstream.then(|| e.upstream_reason.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_protobuf_names() {
        for c in [v1::ErrorCode::Unspecified, v1::ErrorCode::PermissionDenied, v1::ErrorCode::NoRunner] {
            let wire = serde_json::to_value(ErrorCode::from(c)).unwrap();
            assert_eq!(wire, c.as_str_name(), "{c:?}");
            assert_eq!(ErrorCode::from(c).as_str(), c.as_str_name());
        }
    }

    #[test]
    fn upstream_fields_only_for_upstream_errors() {
        let plain = ErrorResponse::from(&v1::Error::new(v1::ErrorCode::NotFound, "org \"x\" not found"));
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"error": {"code": "NOT_FOUND", "message": "org \"x\" not found"}})
        );
        let mut e = v1::Error::new(v1::ErrorCode::Upstream, "pods \"p\" not found");
        e.upstream_status = 404;
        e.upstream_reason = "NotFound".into();
        let v = serde_json::to_value(ErrorResponse::from(&e)).unwrap();
        assert_eq!(v["error"]["upstream_status"], 404);
        assert_eq!(ErrorCode::Upstream.status(404), 404);
        assert_eq!(ErrorCode::Upstream.status(500), 502);
    }
}
