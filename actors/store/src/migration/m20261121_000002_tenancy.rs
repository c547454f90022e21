use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Environments {
    Table,
    Id,
    OrgId,
    Name,
    CreatedAt,
}
#[derive(DeriveIden)]
enum CloudResources {
    Table,
    Id,
    OrgId,
    EnvId,
    Kind,
    Name,
    ConnectionId,
    Namespace,
    CreatedAt,
    UpdatedAt,
}
#[derive(DeriveIden)]
enum DefaultConnections {
    Table,
    Id,
    OrgId,
    EnvId,
    Provider,
    ConnectionId,
}
#[derive(DeriveIden)]
enum DefaultRunners {
    Table,
    Scope,
    RunnerId,
}
#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}
#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
}
#[derive(DeriveIden)]
enum Runners {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Environments::Table)
                .if_not_exists()
                .col(string(Environments::Id).primary_key())
                .col(string(Environments::OrgId))
                .col(string(Environments::Name))
                .col(timestamp_with_time_zone(Environments::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Environments::Table, Environments::OrgId)
                        .to(Orgs::Table, Orgs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_envs_org_name")
                .table(Environments::Table)
                .col(Environments::OrgId)
                .col(Environments::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CloudResources::Table)
                .if_not_exists()
                .col(string(CloudResources::Id).primary_key())
                .col(string(CloudResources::OrgId))
                .col(string(CloudResources::EnvId))
                .col(string(CloudResources::Kind))
                .col(string(CloudResources::Name))
                .col(string(CloudResources::ConnectionId))
                .col(string(CloudResources::Namespace))
                .col(timestamp_with_time_zone(CloudResources::CreatedAt))
                .col(timestamp_with_time_zone(CloudResources::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(CloudResources::Table, CloudResources::EnvId)
                        .to(Environments::Table, Environments::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(CloudResources::Table, CloudResources::ConnectionId)
                        .to(Connections::Table, Connections::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_resources_path")
                .table(CloudResources::Table)
                .col(CloudResources::OrgId)
                .col(CloudResources::EnvId)
                .col(CloudResources::Kind)
                .col(CloudResources::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DefaultConnections::Table)
                .if_not_exists()
                .col(string(DefaultConnections::Id).primary_key())
                .col(string(DefaultConnections::OrgId))
                .col(string(DefaultConnections::EnvId))
                .col(string(DefaultConnections::Provider))
                .col(string(DefaultConnections::ConnectionId))
                .foreign_key(
                    ForeignKey::create()
                        .from(DefaultConnections::Table, DefaultConnections::ConnectionId)
                        .to(Connections::Table, Connections::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_default_connections")
                .table(DefaultConnections::Table)
                .col(DefaultConnections::OrgId)
                .col(DefaultConnections::EnvId)
                .col(DefaultConnections::Provider)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DefaultRunners::Table)
                .if_not_exists()
                .col(string(DefaultRunners::Scope).primary_key())
                .col(string(DefaultRunners::RunnerId))
                .foreign_key(
                    ForeignKey::create()
                        .from(DefaultRunners::Table, DefaultRunners::RunnerId)
                        .to(Runners::Table, Runners::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            DefaultRunners::Table.into_iden(),
            DefaultConnections::Table.into_iden(),
            CloudResources::Table.into_iden(),
            Environments::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
