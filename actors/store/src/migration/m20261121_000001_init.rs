use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs { Table, Id, Name, CreatedAt }
#[derive(DeriveIden)]
enum Principals { Table, Id, OrgId, Kind, Name, PlatformOperator, RunnerId, CreatedAt }
#[derive(DeriveIden)]
enum ApiKeys { Table, Id, PrincipalId, KeyHash, Prefix, CreatedAt, RevokedAt }
#[derive(DeriveIden)]
enum Grants { Table, Id, PrincipalId, ScopeKind, ScopeId, Role, CreatedAt }
#[derive(DeriveIden)]
enum Runners { Table, Id, OrgId, Name, Generation, CertFingerprint, ServiceAccountId, Revoked, LastSeenAt, Version, CreatedAt }
#[derive(DeriveIden)]
enum Connections { Table, Id, OrgId, Name, Provider, RunnerId, KubeContext, CreatedAt }
#[derive(DeriveIden)]
enum AuditLog { Table, Id, At, PrincipalId, PrincipalName, OrgId, Mode, Target, Op, Verb, Decision, Reason, Result, LatencyUs }

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create().table(Orgs::Table).if_not_exists()
                .col(string(Orgs::Id).primary_key())
                .col(string_uniq(Orgs::Name))
                .col(timestamp_with_time_zone(Orgs::CreatedAt))
                .to_owned(),
        ).await?;
        m.create_table(
            Table::create().table(Principals::Table).if_not_exists()
                .col(string(Principals::Id).primary_key())
                .col(string(Principals::OrgId))
                .col(string(Principals::Kind))
                .col(string(Principals::Name))
                .col(boolean(Principals::PlatformOperator).default(false))
                .col(string_null(Principals::RunnerId))
                .col(timestamp_with_time_zone(Principals::CreatedAt))
                .foreign_key(ForeignKey::create().from(Principals::Table, Principals::OrgId).to(Orgs::Table, Orgs::Id).on_delete(ForeignKeyAction::Cascade))
                .to_owned(),
        ).await?;
        m.create_index(Index::create().name("ux_principals_org_name").table(Principals::Table).col(Principals::OrgId).col(Principals::Name).unique().to_owned()).await?;
        m.create_table(
            Table::create().table(ApiKeys::Table).if_not_exists()
                .col(string(ApiKeys::Id).primary_key())
                .col(string(ApiKeys::PrincipalId))
                .col(string_uniq(ApiKeys::KeyHash))
                .col(string(ApiKeys::Prefix))
                .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                .foreign_key(ForeignKey::create().from(ApiKeys::Table, ApiKeys::PrincipalId).to(Principals::Table, Principals::Id).on_delete(ForeignKeyAction::Cascade))
                .to_owned(),
        ).await?;
        m.create_table(
            Table::create().table(Grants::Table).if_not_exists()
                .col(string(Grants::Id).primary_key())
                .col(string(Grants::PrincipalId))
                .col(string(Grants::ScopeKind))
                .col(string(Grants::ScopeId))
                .col(string(Grants::Role))
                .col(timestamp_with_time_zone(Grants::CreatedAt))
                .foreign_key(ForeignKey::create().from(Grants::Table, Grants::PrincipalId).to(Principals::Table, Principals::Id).on_delete(ForeignKeyAction::Cascade))
                .to_owned(),
        ).await?;
        m.create_index(Index::create().name("ux_grants").table(Grants::Table).col(Grants::PrincipalId).col(Grants::ScopeKind).col(Grants::ScopeId).unique().to_owned()).await?;
        m.create_table(
            Table::create().table(Runners::Table).if_not_exists()
                .col(string(Runners::Id).primary_key())
                .col(string_null(Runners::OrgId))
                .col(string(Runners::Name))
                .col(integer(Runners::Generation))
                .col(string_null(Runners::CertFingerprint))
                .col(string(Runners::ServiceAccountId))
                .col(boolean(Runners::Revoked).default(false))
                .col(timestamp_with_time_zone_null(Runners::LastSeenAt))
                .col(string_null(Runners::Version))
                .col(timestamp_with_time_zone(Runners::CreatedAt))
                .to_owned(),
        ).await?;
        m.create_index(Index::create().name("ux_runners_org_name").table(Runners::Table).col(Runners::OrgId).col(Runners::Name).unique().to_owned()).await?;
        m.create_table(
            Table::create().table(Connections::Table).if_not_exists()
                .col(string(Connections::Id).primary_key())
                .col(string(Connections::OrgId))
                .col(string(Connections::Name))
                .col(string(Connections::Provider))
                .col(string_null(Connections::RunnerId))
                .col(string_null(Connections::KubeContext))
                .col(timestamp_with_time_zone(Connections::CreatedAt))
                .foreign_key(ForeignKey::create().from(Connections::Table, Connections::OrgId).to(Orgs::Table, Orgs::Id).on_delete(ForeignKeyAction::Cascade))
                .to_owned(),
        ).await?;
        m.create_index(Index::create().name("ux_connections_org_name").table(Connections::Table).col(Connections::OrgId).col(Connections::Name).unique().to_owned()).await?;
        m.create_table(
            Table::create().table(AuditLog::Table).if_not_exists()
                .col(big_integer(AuditLog::Id).auto_increment().primary_key())
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(string(AuditLog::PrincipalId))
                .col(string(AuditLog::PrincipalName))
                .col(string(AuditLog::OrgId))
                .col(string(AuditLog::Mode))
                .col(string(AuditLog::Target))
                .col(string(AuditLog::Op))
                .col(string(AuditLog::Verb))
                .col(string(AuditLog::Decision))
                .col(text(AuditLog::Reason))
                .col(string_null(AuditLog::Result))
                .col(big_integer_null(AuditLog::LatencyUs))
                .to_owned(),
        ).await?;
        m.create_index(Index::create().name("ix_audit_at").table(AuditLog::Table).col(AuditLog::At).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [AuditLog::Table.into_iden(), Connections::Table.into_iden(), Runners::Table.into_iden(), Grants::Table.into_iden(), ApiKeys::Table.into_iden(), Principals::Table.into_iden(), Orgs::Table.into_iden()] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
