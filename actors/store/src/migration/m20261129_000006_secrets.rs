use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Secrets {
    Table,
    Id,
    OrgId,
    Name,
    Sealed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    SecretRefs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Secrets::Table)
                .if_not_exists()
                .col(string(Secrets::Id).primary_key())
                .col(string(Secrets::OrgId))
                .col(string(Secrets::Name))
                .col(text(Secrets::Sealed))
                .col(timestamp_with_time_zone(Secrets::CreatedAt))
                .col(timestamp_with_time_zone(Secrets::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_secrets_org_name")
                .table(Secrets::Table)
                .col(Secrets::OrgId)
                .col(Secrets::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Connections::Table).add_column(text(Connections::SecretRefs).default("{}")).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Connections::Table).drop_column(Connections::SecretRefs).to_owned()).await?;
        m.drop_table(Table::drop().table(Secrets::Table).to_owned()).await
    }
}
