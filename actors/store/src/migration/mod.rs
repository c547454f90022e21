//! One set of migrations for SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m20261121_000001_init;
mod m20261121_000002_tenancy;
mod m20261121_000003_exec_sessions;
mod m20261121_000004_connection_settings;
mod m20261121_000005_console_sessions;
mod m20261129_000006_secrets;
mod m20261130_000007_oidc;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_init::Migration),
            Box::new(m20261121_000002_tenancy::Migration),
            Box::new(m20261121_000003_exec_sessions::Migration),
            Box::new(m20261121_000004_connection_settings::Migration),
            Box::new(m20261121_000005_console_sessions::Migration),
            Box::new(m20261129_000006_secrets::Migration),
            Box::new(m20261130_000007_oidc::Migration),
        ]
    }
}
