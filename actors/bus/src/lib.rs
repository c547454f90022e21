//! The bus: the only crate that knows NATS.
//!
//! - [`subjects`]: every subject name the system uses.
//! - [`rpc`]: prost request/reply over NATS with the trace context in headers.
//! - [`services`]: typed clients and servers for the resolver, authorizer and router roles.
//! - [`runner_link`]: the router's side (explicit reply subjects) and the runner's side of the tunnel.
//! - [`accounts`]: one NATS account per runner, the isolation boundary, and what crosses it.
//! - [`callout`]: the hub's auth callout: verified runner certificate → per-runner permissions,
//!   decided newest first so that a reconnect storm drains (`newest_first`).
//! - [`warmup`]: runner accounts built on each hub server ahead of their runners (a restart's
//!   reconnect storm finds them built, instead of building each inside an admission).
//! - [`natsd`]: finding, configuring and supervising `nats-server` processes (hub and leaf).
//! - [`child`]: child processes (nats-server, the local runner) that never outlive their parent.
//! - [`connect`]: connection options (mTLS, credentials) for the hub and the leaf.
//! - [`slot`]: where a typed handle finds its own actor instance (no global names).
//! - [`streams`], [`js_retry`], [`js_usage`]: session streams in JetStream, retried through a
//!   failover, and what they hold (for the metrics).

pub mod accounts;
mod admissions;
pub mod callout;
pub mod child;
pub mod connect;
mod error;
pub mod js_retry;
pub mod js_usage;
pub mod natsd;
mod natsd_config;
mod newest_first;
pub mod rpc;
pub mod runner_link;
pub mod services;
mod session_publisher;
mod session_reader;
pub mod slot;
pub mod streams;
pub mod subjects;
mod trace;
pub mod tunnel_backoff;
pub mod warmup;

pub use async_nats::Client as NatsClient;
pub use error::BusError;
