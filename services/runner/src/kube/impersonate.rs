//! Acting as the person: a connection with `impersonate=true` makes every call to the API
//! server carry `Impersonate-User` and `Impersonate-Group` with the identity the authorizer
//! decided (see `cloudops_authorizer::impersonation`). The cluster's RBAC then decides what the
//! person may do, and its audit log names them; the runner's own credentials need only the
//! `impersonate` verb on `users` and `groups`.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request};
use kube::{Client, client::Body};

use super::err;
use cloudops_schemas::v1::{self, ErrorCode};

const USER: HeaderName = HeaderName::from_static("impersonate-user");
const GROUP: HeaderName = HeaderName::from_static("impersonate-group");

/// The client to make `req`'s calls with: `client` itself (the context as configured), or
/// `bare` (the context without its own impersonation) acting as the request's person. An op
/// that names nobody is refused when its connection asks for impersonation, or when this runner
/// requires it of every op (`--require-impersonation`, so that no connection an org admin
/// creates can reach the cluster with the runner's own credentials): the runner never falls
/// back to its own, broader credentials.
pub(super) fn acting_as(
    client: Client,
    bare: Client,
    req: &v1::RunnerRequest,
    required: bool,
) -> Result<Client, v1::Error> {
    let who = match req.impersonate.as_ref().filter(|i| !i.user.is_empty()) {
        Some(who) => who,
        None if required => {
            return Err(err(
                ErrorCode::PermissionDenied,
                "this runner acts only as the person (--require-impersonation): set impersonate=true on the connection",
            ));
        }
        None if req.settings.as_ref().is_some_and(v1::ConnectionSettings::impersonates) => {
            return Err(err(
                ErrorCode::PermissionDenied,
                "this connection acts as the person (impersonate=true) and the request names nobody: refused",
            ));
        }
        None => return Ok(client),
    };
    let client = bare;
    let value = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| err(ErrorCode::InvalidArgument, format!("{v:?} cannot be sent as an impersonation header")))
    };
    let mut headers = vec![(USER, value(&who.user)?)];
    for g in &who.groups {
        headers.push((GROUP, value(g)?));
    }
    let headers = Arc::new(headers);
    let namespace = client.default_namespace().to_string();
    let service = tower::service_fn(move |mut request: Request<Body>| {
        let (client, headers) = (client.clone(), headers.clone());
        async move {
            let h = request.headers_mut();
            let carried: Vec<HeaderName> =
                h.keys().filter(|k| k.as_str().starts_with("impersonate-")).cloned().collect();
            for name in carried {
                h.remove(name);
            }
            for (name, value) in headers.iter() {
                h.append(name.clone(), value.clone());
            }
            client.send(request).await
        }
    });
    Ok(Client::new(service, namespace))
}
