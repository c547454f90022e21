//! sea-orm entities. One file per table.

pub mod api_key;
pub mod audit;
pub mod cloud_resource;
pub mod connection;
pub mod console_session;
pub mod default_connection;
pub mod default_runner;
pub mod environment;
pub mod exec_session;
pub mod grant;
pub mod oidc_exchange;
pub mod oidc_login;
pub mod org;
pub mod principal;
pub mod runner;
pub mod secret;
