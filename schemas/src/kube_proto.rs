//! The few Kubernetes protobuf messages the API proxy answers itself (`kubectl auth can-i`
//! and `auth whoami` send theirs as `application/vnd.kubernetes.protobuf`): the envelope
//! (`k8s\0` then a `runtime.Unknown`) and the fields of `k8s.io/api` authorization and
//! authentication reviews that matter; prost skips every other field.

use prost::Message;

pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// The envelope of every Kubernetes protobuf body: this magic, then a `runtime.Unknown`.
pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    #[prost(string, tag = "4")]
    pub content_type: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ObjectMeta {}

/// `SelfSubjectAccessReview`, `SelfSubjectRulesReview`: metadata, spec, status. The spec is
/// kept as it came, and sent back.
#[derive(Clone, PartialEq, Message)]
pub struct Review {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(bytes = "vec", tag = "2")]
    pub spec: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub status: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    pub resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceAttributes {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub verb: String,
    #[prost(string, tag = "3")]
    pub group: String,
    #[prost(string, tag = "4")]
    pub version: String,
    #[prost(string, tag = "5")]
    pub resource: String,
    #[prost(string, tag = "6")]
    pub subresource: String,
    #[prost(string, tag = "7")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(string, tag = "2")]
    pub verb: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct AccessReviewStatus {
    #[prost(bool, tag = "1")]
    pub allowed: bool,
    #[prost(string, tag = "2")]
    pub reason: String,
    #[prost(string, tag = "3")]
    pub evaluation_error: String,
    #[prost(bool, tag = "4")]
    pub denied: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct RulesReviewStatus {
    #[prost(bool, tag = "3")]
    pub incomplete: bool,
    #[prost(string, tag = "4")]
    pub evaluation_error: String,
}

/// `SelfSubjectReview`: metadata, status.
#[derive(Clone, PartialEq, Message)]
pub struct SubjectReview {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<SubjectReviewStatus>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SubjectReviewStatus {
    #[prost(message, optional, tag = "1")]
    pub user_info: Option<UserInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct UserInfo {
    #[prost(string, tag = "1")]
    pub username: String,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, repeated, tag = "3")]
    pub groups: Vec<String>,
}

/// A review read from its envelope: the envelope's apiVersion, the spec's bytes as they came
/// (sent back unchanged) and the access-review attributes in it.
pub struct Decoded {
    pub api_version: String,
    pub spec_raw: Vec<u8>,
    pub spec: AccessReviewSpec,
}

/// Reads a protobuf review body.
pub fn decode_review(body: &[u8]) -> Result<Decoded, String> {
    let envelope = body.strip_prefix(MAGIC).ok_or("a protobuf body without the k8s envelope")?;
    let unknown = Unknown::decode(envelope).map_err(|e| format!("protobuf envelope: {e}"))?;
    let review = Review::decode(unknown.raw.as_slice()).map_err(|e| format!("protobuf review: {e}"))?;
    let spec = AccessReviewSpec::decode(review.spec.as_slice()).unwrap_or_default();
    Ok(Decoded {
        api_version: unknown.type_meta.map(|t| t.api_version).unwrap_or_default(),
        spec_raw: review.spec,
        spec,
    })
}

/// A review's status message (access or rules).
pub trait Status: Message {}
impl Status for AccessReviewStatus {}
impl Status for RulesReviewStatus {}

/// A review sent back: its spec as it came, and its status.
pub fn encode_review(api_version: &str, kind: &str, spec_raw: Vec<u8>, status: &impl Status) -> Vec<u8> {
    let review = Review { metadata: Some(ObjectMeta {}), spec: spec_raw, status: Some(status.encode_to_vec()) };
    envelope(api_version, kind, review.encode_to_vec())
}

/// A `SelfSubjectReview` naming the user.
pub fn encode_subject_review(api_version: &str, user: UserInfo) -> Vec<u8> {
    let review =
        SubjectReview { metadata: Some(ObjectMeta {}), status: Some(SubjectReviewStatus { user_info: Some(user) }) };
    envelope(api_version, "SelfSubjectReview", review.encode_to_vec())
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: api_version.to_string(), kind: kind.to_string() }),
        raw,
        content_encoding: String::new(),
        content_type: String::new(),
    };
    [MAGIC, unknown.encode_to_vec().as_slice()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_is_read_as_kubectl_sends_it_and_sent_back_whole() {
        let spec = AccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: "payments".into(),
                verb: "create".into(),
                resource: "pods".into(),
                subresource: "exec".into(),
                ..Default::default()
            }),
            non_resource_attributes: None,
        };
        let review = Review { metadata: Some(ObjectMeta {}), spec: spec.encode_to_vec(), status: None };
        let body = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", review.encode_to_vec());
        let d = decode_review(&body).unwrap();
        assert_eq!(d.api_version, "authorization.k8s.io/v1");
        assert_eq!(d.spec, spec);
        assert!(decode_review(b"not protobuf").is_err());
        let status = AccessReviewStatus { allowed: true, ..Default::default() };
        let back = encode_review(&d.api_version, "SelfSubjectAccessReview", d.spec_raw, &status);
        let unknown = Unknown::decode(back.strip_prefix(MAGIC).unwrap()).unwrap();
        let review = Review::decode(unknown.raw.as_slice()).unwrap();
        assert_eq!(AccessReviewStatus::decode(review.status.unwrap().as_slice()).unwrap(), status);
        assert_eq!(unknown.type_meta.unwrap().kind, "SelfSubjectAccessReview");
    }
}
