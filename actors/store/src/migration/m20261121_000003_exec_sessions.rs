use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExecSessions {
    Table,
    Id,
    OrgId,
    PrincipalId,
    PrincipalName,
    RunnerId,
    Target,
    Namespace,
    Pod,
    Container,
    Command,
    Tty,
    StartedAt,
    EndedAt,
    End,
    ExitCode,
    TotalBytes,
    RecordedBytes,
    Truncated,
    Recording,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ExecSessions::Table)
                .if_not_exists()
                .col(string(ExecSessions::Id).primary_key())
                .col(string(ExecSessions::OrgId))
                .col(string(ExecSessions::PrincipalId))
                .col(string(ExecSessions::PrincipalName))
                .col(string(ExecSessions::RunnerId))
                .col(string(ExecSessions::Target))
                .col(string(ExecSessions::Namespace))
                .col(string(ExecSessions::Pod))
                .col(string(ExecSessions::Container))
                .col(text(ExecSessions::Command))
                .col(boolean(ExecSessions::Tty))
                .col(timestamp_with_time_zone(ExecSessions::StartedAt))
                .col(timestamp_with_time_zone_null(ExecSessions::EndedAt))
                .col(string_null(ExecSessions::End))
                .col(integer_null(ExecSessions::ExitCode))
                .col(big_integer(ExecSessions::TotalBytes).default(0))
                .col(big_integer(ExecSessions::RecordedBytes).default(0))
                .col(boolean(ExecSessions::Truncated).default(false))
                .col(text_null(ExecSessions::Recording))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_exec_sessions_org_started")
                .table(ExecSessions::Table)
                .col(ExecSessions::OrgId)
                .col(ExecSessions::StartedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ExecSessions::Table).to_owned()).await
    }
}
