//! Sign-in through an OpenID Connect provider: principals made from an ID token (issuer and
//! subject, the groups it listed at the last sign-in), keys that expire (the sessions such a
//! sign-in gets), the browser sign-ins under way, and the hand-offs to a CLI's loopback.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Principals {
    Table,
    OidcIssuer,
    OidcSubject,
    Groups,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OidcLogins {
    Table,
    StateHash,
    Verifier,
    Nonce,
    ReturnTo,
    CliRedirect,
    CliChallenge,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OidcExchanges {
    Table,
    CodeHash,
    Challenge,
    PrincipalId,
    Org,
    RefreshSealed,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for col in
            [string_null(Principals::OidcIssuer), string_null(Principals::OidcSubject), text_null(Principals::Groups)]
        {
            m.alter_table(Table::alter().table(Principals::Table).add_column(col).to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name("ux_principals_oidc")
                .table(Principals::Table)
                .col(Principals::OidcIssuer)
                .col(Principals::OidcSubject)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ApiKeys::Table)
                .add_column(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OidcLogins::Table)
                .if_not_exists()
                .col(string(OidcLogins::StateHash).primary_key())
                .col(text(OidcLogins::Verifier))
                .col(text(OidcLogins::Nonce))
                .col(text(OidcLogins::ReturnTo))
                .col(text_null(OidcLogins::CliRedirect))
                .col(text_null(OidcLogins::CliChallenge))
                .col(timestamp_with_time_zone(OidcLogins::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OidcExchanges::Table)
                .if_not_exists()
                .col(string(OidcExchanges::CodeHash).primary_key())
                .col(text(OidcExchanges::Challenge))
                .col(string(OidcExchanges::PrincipalId))
                .col(string(OidcExchanges::Org))
                .col(text_null(OidcExchanges::RefreshSealed))
                .col(timestamp_with_time_zone(OidcExchanges::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OidcExchanges::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(OidcLogins::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(ApiKeys::Table).drop_column(ApiKeys::ExpiresAt).to_owned()).await?;
        m.drop_index(Index::drop().name("ux_principals_oidc").table(Principals::Table).to_owned()).await?;
        for col in [Principals::Groups, Principals::OidcSubject, Principals::OidcIssuer] {
            m.alter_table(Table::alter().table(Principals::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
