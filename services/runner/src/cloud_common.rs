//! What the cloud providers share: the connection's settings and argument errors.

use cloudops_schemas::v1::{self, ErrorCode};

pub fn invalid(msg: impl Into<String>) -> v1::Error {
    v1::Error::new(ErrorCode::InvalidArgument, msg)
}

/// A non-empty setting of the op's connection (see `connection_settings.rs` in the store).
pub fn setting<'a>(req: &'a v1::RunnerRequest, key: &str) -> Option<&'a str> {
    req.settings.as_ref().and_then(|s| s.values.get(key)).map(String::as_str).filter(|v| !v.is_empty())
}
