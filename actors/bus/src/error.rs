use thiserror::Error;

/// Transport failures. Business failures travel inside replies as `v1::Error`.
#[derive(Debug, Error)]
pub enum BusError {
    /// Nobody subscribes to the subject (for a runner: it is not connected).
    #[error("no responders on {subject}")]
    NoResponders { subject: String },
    #[error("no reply on {subject} within {timeout_ms} ms")]
    Timeout { subject: String, timeout_ms: u64 },
    #[error("malformed reply on {subject}: {source}")]
    Decode {
        subject: String,
        #[source]
        source: cloudops_schemas::DecodeError,
    },
    #[error("nats: {0}")]
    Transport(String),
    /// The in-process actor could not be reached (stopped or restarting).
    #[error("actor {0} unavailable")]
    ActorUnavailable(String),
}

impl BusError {
    pub fn transport(e: impl std::fmt::Display) -> Self {
        Self::Transport(e.to_string())
    }
}
