use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    TokenHash,
    ApiKeyId,
    PrincipalId,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ConsoleSessions::Table)
                .if_not_exists()
                .col(string(ConsoleSessions::TokenHash).primary_key())
                .col(string(ConsoleSessions::ApiKeyId))
                .col(string(ConsoleSessions::PrincipalId))
                .col(string(ConsoleSessions::Csrf))
                .col(timestamp_with_time_zone(ConsoleSessions::CreatedAt))
                .col(timestamp_with_time_zone(ConsoleSessions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_console_sessions_api_key")
                .table(ConsoleSessions::Table)
                .col(ConsoleSessions::ApiKeyId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ConsoleSessions::Table).to_owned()).await
    }
}
