//! How answers are printed as tables (or as the JSON or YAML they came as).

use serde_json::Value;

use crate::{Ctx, ListFormat, printers};

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::Null => NONE.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn print_list(
    ctx: &mut Ctx<'_, '_>,
    v: &Value,
    format: ListFormat,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    match format {
        ListFormat::Json => ctx.out(&printers::json(v)),
        ListFormat::Yaml => ctx.out(&printers::yaml(v)),
        ListFormat::Table => {
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            rows.extend(v["items"].as_array().into_iter().flatten().map(&row));
            ctx.out(&printers::tabwrite(&rows));
        }
    }
}

/// A typed list (`cloudops_api::Items`) as a table, or as the JSON or YAML it came as.
pub(crate) fn print_items<T: serde::Serialize>(
    ctx: &mut Ctx<'_, '_>,
    list: &cloudops_api::Items<T>,
    format: ListFormat,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    match format {
        ListFormat::Table => {
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            rows.extend(list.items.iter().map(&row));
            ctx.out(&printers::tabwrite(&rows));
        }
        _ => print_list(ctx, &serde_json::to_value(list).expect("json"), format, header, |_| vec![]),
    }
}

/// What a table shows for a value that is not there, as kubectl does.
pub(crate) const NONE: &str = "<none>";

/// An optional field as tables show it.
pub(crate) fn or_none(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| NONE.into())
}

/// A time as tables show it: RFC 3339 in UTC, as the API writes it.
pub(crate) fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
