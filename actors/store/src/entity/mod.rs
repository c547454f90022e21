//! sea-orm entities. One file per table.

pub mod api_key;
pub mod audit;
pub mod connection;
pub mod grant;
pub mod org;
pub mod principal;
pub mod runner;
