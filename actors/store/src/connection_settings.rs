//! The non-secret settings a connection may hold, per provider. Credentials never: the runner
//! finds them with the cloud's own chain (environment, profile, workload identity, managed
//! identity), so the control plane never receives, stores or logs any.

use std::collections::BTreeMap;

use crate::{Result, StoreError};

/// Keys each provider accepts. (A Kubernetes connection's context has its own column.)
pub fn allowed_settings(provider: &str) -> &'static [&'static str] {
    match provider {
        "aws" => &["profile", "region", "endpoint_url", "page_size"],
        // endpoint_url: Compute Engine's; storage_endpoint_url: Cloud Storage's.
        "gcp" => &["project", "zone", "endpoint_url", "storage_endpoint_url"],
        // endpoint_url: Azure Resource Manager's; blob_endpoint_url: the Blob service's
        // (`https://ACCOUNT.blob.core.windows.net`, or an emulator's URL with the account).
        "azure" => &["subscription", "resource_group", "account", "endpoint_url", "blob_endpoint_url"],
        // impersonate=true: the runner acts as the person (Impersonate-User / -Group).
        "kubernetes" => &["impersonate"],
        _ => &[],
    }
}

/// Words that mark a credential: refused with a message saying where credentials belong.
const SECRET_WORDS: [&str; 7] = ["secret", "password", "token", "key", "credential", "sas", "connection_string"];

/// Cloud parameters that end up in a URL the runner calls with its credentials (a storage
/// account is a host name: `https://<account>.blob.core.windows.net`). Each is a plain
/// identifier, so that none can turn the request towards another host.
pub fn check_cloud_param(key: &str, value: &str) -> std::result::Result<(), String> {
    let id = |max: usize, extra: &str| {
        !value.is_empty() && value.len() <= max && value.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    let (ok, rule) = match key {
        "account" => (
            (3..=24).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "3-24 lowercase letters and digits",
        ),
        "region" | "zone" => (id(40, "-"), "letters, digits and '-'"),
        "project" => (id(64, "-.:"), "letters, digits, '-', '.' and ':'"),
        "subscription" => (id(64, "-"), "letters, digits and '-'"),
        "resource_group" => (id(90, "-._()"), "letters, digits, '-', '_', '.', '(' and ')'"),
        "profile" => (id(64, "-._"), "letters, digits, '-', '_' and '.'"),
        _ => (true, ""),
    };
    if ok { Ok(()) } else { Err(format!("{key} {value:?} is not valid: use {rule}")) }
}

pub fn check_settings(provider: &str, settings: &BTreeMap<String, String>) -> Result<()> {
    let allowed = allowed_settings(provider);
    for (k, v) in settings {
        let lower = k.to_ascii_lowercase();
        if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
            return Err(StoreError::Invalid(format!(
                "setting {k:?} looks like a credential: connections hold non-secret settings only; credentials stay on the runner (its environment, profile, workload or managed identity)"
            )));
        }
        if !allowed.contains(&k.as_str()) {
            let hint = if allowed.is_empty() {
                format!("{provider} connections take no settings")
            } else {
                format!("{provider} connections take {}", allowed.join(", "))
            };
            return Err(StoreError::Invalid(format!("unknown setting {k:?}: {hint}")));
        }
        if v.trim().is_empty() || v.len() > 512 || v.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!("setting {k:?}: the value must be 1–512 printable characters")));
        }
        if k == "impersonate" && v != "true" && v != "false" {
            return Err(StoreError::Invalid(format!("setting impersonate={v}: expected true or false")));
        }
        if k == "page_size" && !v.parse::<u32>().is_ok_and(|n| (5..=1000).contains(&n)) {
            return Err(StoreError::Invalid(format!(
                "setting page_size {v:?}: a number of results per page, 5 to 1000"
            )));
        }
        check_cloud_param(k, v).map_err(|e| StoreError::Invalid(format!("setting {e}")))?;
        if k.ends_with("endpoint_url") && !(v.starts_with("http://") || v.starts_with("https://")) {
            return Err(StoreError::Invalid(format!("setting {k} {v:?}: must be an http(s):// URL")));
        }
    }
    Ok(())
}

/// Settings a connection may take from one of the org's secrets instead of holding them:
/// the runner fetches their values from the control plane with its own API key, per op.
pub fn allowed_secret_refs(provider: &str) -> &'static [&'static str] {
    match provider {
        // The role the runner assumes (STS AssumeRole) with its own credentials, and the
        // external id the role's trust policy may require: one runner, many AWS accounts.
        "aws" => &["role_arn", "external_id"],
        _ => &[],
    }
}

pub fn check_secret_refs(provider: &str, refs: &BTreeMap<String, String>) -> Result<()> {
    let allowed = allowed_secret_refs(provider);
    for (k, name) in refs {
        if !allowed.contains(&k.as_str()) {
            let hint = if allowed.is_empty() {
                format!("{provider} connections take no secrets")
            } else {
                format!("{provider} connections take {} from secrets", allowed.join(", "))
            };
            return Err(StoreError::Invalid(format!("setting {k} from secret {name:?}: {hint}")));
        }
        crate::validate_name("secret", name)?;
    }
    if refs.contains_key("external_id") && !refs.contains_key("role_arn") {
        return Err(StoreError::Invalid(
            "external_id from a secret needs role_arn from a secret too: the external id goes with the role the runner assumes".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn settings_are_checked_per_provider() {
        assert!(
            check_settings("aws", &s(&[("region", "eu-west-1"), ("endpoint_url", "http://127.0.0.1:5000")])).is_ok()
        );
        assert!(check_settings("gcp", &s(&[("project", "p1")])).is_ok());
        assert!(check_settings("azure", &s(&[("subscription", "sub"), ("account", "devstore")])).is_ok());
        let e = check_settings("aws", &s(&[("secret_access_key", "x")])).unwrap_err().to_string();
        assert!(e.contains("looks like a credential"), "{e}");
        let e = check_settings("azure", &s(&[("account_key", "x")])).unwrap_err().to_string();
        assert!(e.contains("looks like a credential"), "{e}");
        let e = check_settings("aws", &s(&[("project", "p")])).unwrap_err().to_string();
        assert!(e.contains("aws connections take profile, region, endpoint_url, page_size"), "{e}");
        assert!(check_settings("aws", &s(&[("page_size", "4")])).is_err());
        assert!(check_settings("aws", &s(&[("page_size", "50")])).is_ok());
        let e = check_settings("kubernetes", &s(&[("region", "x")])).unwrap_err().to_string();
        assert!(e.contains("kubernetes connections take impersonate"), "{e}");
        assert!(check_settings("kubernetes", &s(&[("impersonate", "true")])).is_ok());
        let e = check_settings("kubernetes", &s(&[("impersonate", "yes")])).unwrap_err().to_string();
        assert!(e.contains("impersonate=yes: expected true or false"), "{e}");
        assert!(check_settings("aws", &s(&[("impersonate", "true")])).is_err());
        assert!(check_settings("aws", &s(&[("endpoint_url", "ftp://x")])).is_err());
        let e = check_settings("azure", &s(&[("blob_endpoint_url", "x")])).unwrap_err().to_string();
        assert!(e.contains("setting blob_endpoint_url \"x\": must be an http(s):// URL"), "{e}");
        assert!(check_settings("aws", &s(&[("region", " ")])).is_err());
    }

    #[test]
    fn secret_refs_are_checked_per_provider() {
        assert!(check_secret_refs("aws", &s(&[("role_arn", "prod-role"), ("external_id", "prod-ext")])).is_ok());
        let e = check_secret_refs("aws", &s(&[("region", "r")])).unwrap_err().to_string();
        assert!(
            e.contains("setting region from secret \"r\": aws connections take role_arn, external_id from secrets"),
            "{e}"
        );
        let e = check_secret_refs("gcp", &s(&[("role_arn", "r")])).unwrap_err().to_string();
        assert!(e.contains("gcp connections take no secrets"), "{e}");
        let e = check_secret_refs("aws", &s(&[("external_id", "x")])).unwrap_err().to_string();
        assert!(e.contains("needs role_arn from a secret"), "{e}");
        let e = check_secret_refs("aws", &s(&[("role_arn", "Bad Name")])).unwrap_err().to_string();
        assert!(e.contains("invalid secret name"), "{e}");
    }

    #[test]
    fn cloud_params_cannot_name_another_host() {
        for (k, v) in [
            ("account", "evil.example?"),
            ("account", "a/b"),
            ("region", "x/#"),
            ("zone", "a@b"),
            ("project", "p/../x"),
            ("account", "AB1"),
        ] {
            let e = check_cloud_param(k, v).unwrap_err();
            assert!(e.contains(k) && e.contains(&format!("{v:?}")), "{e}");
        }
        for (k, v) in [
            ("account", "acmelogs"),
            ("region", "eu-west-1"),
            ("project", "acme-prod"),
            ("resource_group", "payments-rg"),
        ] {
            assert!(check_cloud_param(k, v).is_ok(), "{k}={v}");
        }
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Connection settings from a tenant: accepted, or refused naming the key.
            #[test]
            fn settings_are_accepted_or_name_the_key(
                provider in prop_oneof![Just("aws"), Just("gcp"), Just("azure"), Just("kubernetes"), Just("x")],
                key in "[a-z_]{1,24}",
                value in ".{0,40}",
            ) {
                let settings = BTreeMap::from([(key.clone(), value)]);
                if let Err(e) = check_settings(provider, &settings) {
                    prop_assert!(e.to_string().contains(&key), "{e}");
                }
            }
        }
    }
}
