//! The API's OpenAPI 3.1 document, served at `GET /v1/openapi.json`: each operation from the
//! `#[utoipa::path]` beside its handler, each schema from the contract crate (`cloudops-api`),
//! and what every operation shares added here ([`Conventions`]): the API-key security scheme,
//! the path parameters, and the error answers, all of one shape (`ErrorResponse`).
//!
//! The Kubernetes API proxy (`/v1/kube/...`) is not in it: its contract is the Kubernetes API's,
//! whose own document the proxy serves at `.../openapi/v3`.

use axum::{http::header, response::IntoResponse};
use cloudops_api as api;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type,
        path::{Operation, ParameterBuilder, ParameterIn},
        security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
    },
};

/// The security scheme every operation needs unless it is public.
const API_KEY: &str = "api_key";

/// Operations anyone may call: they are how a caller gets a credential, or say nothing secret.
const PUBLIC: [&str; 14] = [
    "healthz",
    "openapi",
    "chart_index",
    "chart_archive",
    "console_login",
    "console_session",
    "console_logout",
    "oidc_offer",
    "oidc_login",
    "oidc_callback",
    "oidc_device_start",
    "oidc_device_token",
    "oidc_refresh",
    "oidc_cli_token",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloud Ops",
        description = "Inspect, debug and manage what runs in Kubernetes, AWS, GCP and Azure through runners inside \
                       your infrastructure. Authenticate with `Authorization: Bearer <API key>` \
                       (`planton apikey create`); the web console uses a cookie session with an `X-CSRF-Token` header \
                       on changes. Every error is `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        healthz,
        openapi,
        crate::routes::whoami,
        crate::runner_builds::list,
        crate::runner_builds::download,
        crate::charts::index,
        crate::charts::archive,
        crate::console::login,
        crate::console::session,
        crate::console::logout,
        crate::oidc::handlers::offer,
        crate::oidc::handlers::login,
        crate::oidc::handlers::callback,
        crate::oidc::handlers::device_start,
        crate::oidc::handlers::device_token,
        crate::oidc::handlers::refresh,
        crate::oidc::cli_handoff::cli_token,
        crate::ops::kube_op,
        crate::ops::cloud_op,
        crate::admin::list_orgs,
        crate::admin::create_org,
        crate::admin::list_envs,
        crate::admin::create_env,
        crate::admin::list_principals,
        crate::admin::create_principal,
        crate::admin::list_keys,
        crate::admin::create_key,
        crate::admin::revoke_key,
        crate::admin::list_grants,
        crate::admin::create_grant,
        crate::admin::delete_grant,
        crate::admin::list_connections,
        crate::admin::create_connection,
        crate::admin::get_connection,
        crate::admin::delete_connection,
        crate::admin::set_default_connection,
        crate::admin::get_default_connection,
        crate::admin::list_secrets,
        crate::admin::put_secret,
        crate::admin::delete_secret,
        crate::admin::runner_connection_secrets,
        crate::admin::list_resources,
        crate::admin::apply_resource,
        crate::admin::get_resource,
        crate::admin::delete_resource,
        crate::admin::list_runners,
        crate::admin::get_runner,
        crate::admin::delete_runner,
        crate::admin::generate_credentials,
        crate::admin::regenerate_credentials,
        crate::admin::get_default_runner,
        crate::admin::set_default_runner,
        crate::admin::unset_default_runner,
        crate::admin::list_audit,
        crate::admin::list_sessions,
        crate::admin::get_session,
        crate::sessions::events,
        crate::sessions::cancel,
        crate::sessions::input,
    ),
    components(schemas(api::ErrorResponse)),
    modifiers(&Conventions),
    tags(
        (name = "identity", description = "Who is calling; signing in with an API key or through the identity provider"),
        (name = "ops", description = "Kubernetes and cloud operations, run by a runner"),
        (name = "sessions", description = "Streamed ops: logs, watches and exec"),
        (name = "tenancy", description = "Orgs, environments, principals, API keys and grants"),
        (name = "connections", description = "Connections, their defaults, and the org's secrets"),
        (name = "catalog", description = "Cloud resources: org/env/Kind/name to a connection and namespace"),
        (name = "runners", description = "Runners, their credentials and defaults"),
        (name = "audit", description = "The audit log and exec session recordings"),
    )
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "identity", operation_id = "openapi",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    static DOC: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serializes"));
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], DOC.as_str())
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "identity", operation_id = "healthz",
    responses((status = 200, description = "The gateway serves", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// What every operation shares.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `planton apikey create`"))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in ops.into_iter().flatten() {
                path_parameters(path, op);
                let public = op.operation_id.as_deref().is_some_and(|id| PUBLIC.contains(&id));
                op.security = Some(vec![if public {
                    SecurityRequirement::default()
                } else {
                    SecurityRequirement::new(API_KEY, Vec::<String>::new())
                }]);
                error_answers(op, public, path.starts_with("/v1/ops/"));
            }
        }
    }
}

/// Each `{name}` of the path as a required string parameter, unless the operation names it.
fn path_parameters(path: &str, op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
        if params.iter().any(|p| p.name == name && p.parameter_in == ParameterIn::Path) {
            continue;
        }
        params.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
}

/// The error answers an operation can give, each `ErrorResponse`: bad input, no or a bad
/// credential, no permission, not found, a conflict, a dependency down; ops add what the runner
/// and the cloud API answer (`UPSTREAM` keeps the API's 4xx).
fn error_answers(op: &mut Operation, public: bool, runs_on_a_runner: bool) {
    let mut answers = vec![
        ("400", "The request is invalid: the message names the field or parameter"),
        ("404", "Not found, or not visible to the caller"),
        ("409", "Conflicts with what exists"),
        ("503", "A dependency (store, audit log, runner) is unavailable"),
    ];
    if !public {
        answers.push(("401", "No API key, or one that is invalid or revoked"));
        answers.push(("403", "The caller's grants do not allow it (the message says what would)"));
    }
    if runs_on_a_runner {
        answers.push(("4XX", "The cloud API refused it (`UPSTREAM`, with its status and reason)"));
        answers.push(("502", "The cloud API failed (`UPSTREAM`)"));
        answers.push(("504", "The runner did not answer in time"));
    }
    for (status, description) in answers {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build(),
                )
                .build()
                .into()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_parameters_security_and_errors() {
        let doc: serde_json::Value = serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        // Every route of `routes.rs` but the Kubernetes proxy's two (59 operations on 46 paths).
        let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations, 59, "routes.rs and the document disagree");
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                    let declared = op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == name);
                    assert!(declared, "{id}: path parameter {name} undeclared");
                }
                assert!(op["responses"]["400"].is_object(), "{id}: no 400");
                let security = &op["security"][0];
                if PUBLIC.contains(&id) {
                    assert_eq!(security, &serde_json::json!({}), "{id}");
                } else {
                    assert!(security[API_KEY].is_array(), "{id}: no security");
                    assert!(op["responses"]["401"].is_object(), "{id}: no 401");
                }
            }
        }
        // Every schema an operation refers to is in the document.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(doc["components"]["schemas"][name].is_object(), "{name} is referred to and missing");
        }
    }
}
