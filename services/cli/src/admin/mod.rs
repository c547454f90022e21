//! Tenancy, catalog, runner and audit commands, each read and written as the contract's types
//! (`cloudops_api`), never by field name.

mod audit;
mod resource;
mod runner;
mod tenancy;

pub use audit::{AuditCommand, audit};
pub use resource::{ResourceCommand, resource};
pub use runner::{RunnerCommand, runner};
pub use tenancy::{
    ApikeyCommand, EnvCommand, GrantCommand, OrgCommand, PrincipalCommand, apikey, env, grant, org, principal,
};

use clap::Subcommand;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::{Ctx, ListFormat, Result};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Set the current org or env: `planton config set org acme`.
    Set { key: String, value: String },
    /// Show the config (the API key is masked).
    View,
}

/// One answer as a table (`table`), or as the JSON or YAML it came as.
pub(crate) fn show<T: Serialize>(ctx: &mut Ctx<'_, '_>, v: &T, format: ListFormat, table: impl FnOnce(&T) -> String) {
    match format {
        ListFormat::Table => ctx.out(&table(v)),
        ListFormat::Json => ctx.out(&crate::printers::json(&serde_json::to_value(v).expect("json"))),
        ListFormat::Yaml => ctx.out(&crate::printers::yaml(&serde_json::to_value(v).expect("json"))),
    }
}

fn kv(rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|(k, v)| vec![format!("{k}:"), v.clone()]).collect();
    crate::printers::tabwrite(&rows)
}

/// What a path segment may hold as it is: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A name as one segment of a URL's path (or a query value): everything else percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub fn config(ctx: &mut Ctx<'_, '_>, cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Set { key, value } => {
            match key.as_str() {
                "org" => ctx.cfg.org = value.clone(),
                "env" => ctx.cfg.env = value.clone(),
                "endpoint" => ctx.cfg.endpoint = value.clone(),
                other => return Err(format!("unknown config key {other:?}: use org, env or endpoint").into()),
            }
            ctx.cfg.save(&ctx.io.home)?;
            ctx.note(&format!("{key} set to {value:?}"));
        }
        ConfigCommand::View => {
            let mut c = ctx.cfg.clone();
            if c.api_key.chars().count() > 12 {
                c.api_key = format!("{}…", c.api_key.chars().take(12).collect::<String>());
            }
            ctx.out(&serde_yaml_ng::to_string(&c).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(enc("prod-1.a_b~c"), "prod-1.a_b~c");
        assert_eq!(enc("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
        assert_eq!(enc("équipe"), "%C3%A9quipe");
    }
}
