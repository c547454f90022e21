//! The objects of a runner deployed to Kubernetes: the same as the `planton-runner` Helm chart
//! renders for the same values (`helm/planton-runner`; `.ci/helm_check.py` compares the two), so
//! a cluster looks the same whichever way the runner was deployed.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use cloudops_schemas::deploy_args::RbacAccess as Access;

/// The chart's values, as `planton runner deploy` sets them.
#[derive(Debug, Clone)]
pub struct Values {
    /// The runner's name, the chart's release name.
    pub release: String,
    pub namespace: String,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub access: Access,
    pub secrets: bool,
    pub impersonate: bool,
    pub require_impersonation: bool,
    pub service_account_annotations: Vec<(String, String)>,
    pub image_pull_secrets: Vec<String>,
    pub node_selector: Vec<(String, String)>,
    pub health_port: u16,
}

impl Values {
    pub fn name(&self) -> String {
        format!("{}-planton-runner", self.release)
    }
    pub fn secret_name(&self) -> String {
        format!("{}-credentials", self.name())
    }
    /// The labels of every object of the runner (the chart sets the same): how a later deploy
    /// knows an object as its own before removing it.
    pub fn labels(&self) -> Value {
        json!({ "app.kubernetes.io/name": "planton-runner", "app.kubernetes.io/instance": self.release })
    }

    /// Whether an object found in the cluster carries this runner's labels.
    pub fn owns(&self, obj: &Value) -> bool {
        let l = &obj["metadata"]["labels"];
        l["app.kubernetes.io/name"] == "planton-runner" && l["app.kubernetes.io/instance"] == self.release.as_str()
    }

    /// The cluster-scoped objects a runner may have: the `view` binding, and its own role and
    /// binding. Those `objects` leaves out are removed by a deploy (an `--rbac` narrowed).
    pub fn cluster_scoped(&self) -> [(&'static str, String); 3] {
        [
            ("ClusterRoleBinding", format!("{}-view", self.name())),
            ("ClusterRole", self.name()),
            ("ClusterRoleBinding", self.name()),
        ]
    }

    pub fn image(&self) -> String {
        let repo = if self.registry.is_empty() {
            self.repository.clone()
        } else {
            format!("{}/{}", self.registry.trim_end_matches('/'), self.repository)
        };
        format!("{repo}:{}", self.tag)
    }
}

const WRITE: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// The Secret holding `credentials.json`.
pub fn secret(v: &Values, credentials: &str) -> Value {
    use base64::Engine;
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": v.secret_name(), "namespace": v.namespace, "labels": v.labels() },
        "type": "Opaque",
        "data": { "credentials.json": base64::engine::general_purpose::STANDARD.encode(credentials) },
    })
}

/// Everything but the Secret, in the order to apply: the namespace first, the Deployment last.
/// `credentials` is the text in the Secret (its checksum rolls the pods when it changes).
pub fn objects(v: &Values, credentials: &str) -> Vec<Value> {
    let (name, ns) = (v.name(), v.namespace.clone());
    let subject = json!([{ "kind": "ServiceAccount", "name": name, "namespace": ns }]);
    let mut out = vec![json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } })];
    let labels = v.labels();
    let mut sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": { "name": name, "namespace": ns, "labels": labels },
    });
    if !v.service_account_annotations.is_empty() {
        sa["metadata"]["annotations"] =
            v.service_account_annotations.iter().map(|(k, x)| (k.clone(), json!(x))).collect();
    }
    out.push(sa);
    let binding = |binding: String, role: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": binding, "labels": labels },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": subject,
        })
    };
    if v.access != Access::None {
        out.push(binding(format!("{name}-view"), "view"));
    }
    let rules = rules(v);
    if !rules.is_empty() {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": name, "labels": labels }, "rules": rules,
        }));
        out.push(binding(name.clone(), &name));
    }
    out.push(deployment(v, credentials));
    out
}

fn rules(v: &Values) -> Vec<Value> {
    let operates = matches!(v.access, Access::Edit | Access::Admin);
    let rule = |group: &str, resources: &[&str], verbs: &[&str]| json!({ "apiGroups": [group], "resources": resources, "verbs": verbs });
    let mut out = Vec::new();
    if operates {
        out.push(rule("", &["pods/exec", "pods/attach", "pods/portforward"], &["get", "create"]));
        out.push(rule(
            "",
            &[
                "pods",
                "pods/eviction",
                "services",
                "configmaps",
                "persistentvolumeclaims",
                "serviceaccounts",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "endpoints",
            ],
            &WRITE,
        ));
        out.push(rule(
            "apps",
            &[
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
            ],
            &WRITE,
        ));
        out.push(rule("batch", &["jobs", "cronjobs"], &WRITE));
        out.push(rule("autoscaling", &["horizontalpodautoscalers"], &WRITE));
        out.push(rule("networking.k8s.io", &["ingresses", "networkpolicies"], &WRITE));
        out.push(rule("policy", &["poddisruptionbudgets"], &WRITE));
    }
    let read_write: Vec<&str> = ["get", "list", "watch"].into_iter().chain(WRITE).collect();
    if v.access == Access::Admin {
        out.push(rule("rbac.authorization.k8s.io", &["roles", "rolebindings"], &read_write));
    }
    if v.secrets {
        out.push(rule("", &["secrets"], if operates { &read_write } else { &["get", "list", "watch"] }));
    }
    if v.impersonate {
        out.push(rule("", &["users", "groups"], &["impersonate"]));
    }
    out
}

fn deployment(v: &Values, credentials: &str) -> Value {
    let labels = v.labels();
    let checksum: String = Sha256::digest(credentials.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let mut command = vec![
        "/usr/local/bin/planton-runner".to_string(),
        "start".into(),
        "--health-addr".into(),
        format!("0.0.0.0:{}", v.health_port),
    ];
    if v.require_impersonation {
        command.push("--require-impersonation".into());
    }
    let mut pod = json!({
        "serviceAccountName": v.name(),
        // fsGroup: the kubelet gives the Secret's files this group (root owns them), so that
        // uid 10001 can read credentials.json.
        "securityContext": { "runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001 },
    });
    if !v.image_pull_secrets.is_empty() {
        pod["imagePullSecrets"] = v.image_pull_secrets.iter().map(|n| json!({ "name": n })).collect();
    }
    if !v.node_selector.is_empty() {
        pod["nodeSelector"] = v.node_selector.iter().map(|(k, x)| (k.clone(), json!(x))).collect();
    }
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": v.name(), "namespace": v.namespace, "labels": labels },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": labels },
            "template": {
                // The runner's metrics sit on its health port (`/metrics`), for scrapers that
                // read the prometheus.io annotations.
                "metadata": { "labels": labels, "annotations": {
                    "checksum/credentials": checksum,
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": v.health_port.to_string(),
                    "prometheus.io/path": "/metrics",
                } },
                "spec": {
                    "containers": [{
                        "name": "runner",
                        "image": v.image(),
                        "imagePullPolicy": "IfNotPresent",
                        "command": command,
                        "ports": [{ "name": "health", "containerPort": v.health_port, "protocol": "TCP" }],
                        "livenessProbe": { "httpGet": { "path": "/healthz", "port": "health" }, "periodSeconds": 10, "failureThreshold": 3 },
                        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "health" }, "periodSeconds": 5, "failureThreshold": 2 },
                        "env": [{ "name": "PLANTON_RUNNER_CREDENTIALS_FILE", "value": "/etc/planton/credentials.json" }],
                        "volumeMounts": [{ "name": "credentials", "mountPath": "/etc/planton", "readOnly": true }],
                        "resources": { "requests": { "cpu": "50m", "memory": "64Mi" }, "limits": { "memory": "256Mi" } },
                        "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": false },
                    }],
                    "volumes": [{ "name": "credentials", "secret": { "secretName": v.secret_name(), "defaultMode": 0o440 } }],
                },
            },
        },
    });
    if let Some(spec) = d["spec"]["template"]["spec"].as_object_mut() {
        spec.extend(pod.as_object().cloned().unwrap_or_default());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(access: Access) -> Values {
        Values {
            release: "prod".into(),
            namespace: "planton".into(),
            registry: String::new(),
            repository: "cloudops".into(),
            tag: "0.1.0".into(),
            access,
            secrets: false,
            impersonate: false,
            require_impersonation: false,
            service_account_annotations: vec![],
            image_pull_secrets: vec![],
            node_selector: vec![],
            health_port: 8086,
        }
    }

    fn kinds(objs: &[Value]) -> Vec<String> {
        objs.iter()
            .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
            .collect()
    }

    #[test]
    fn access_decides_the_rbac_and_secrets_are_never_granted_unless_asked() {
        let edit = objects(&values(Access::Edit), "{}");
        assert_eq!(
            kinds(&edit),
            [
                "Namespace/planton",
                "ServiceAccount/prod-planton-runner",
                "ClusterRoleBinding/prod-planton-runner-view",
                "ClusterRole/prod-planton-runner",
                "ClusterRoleBinding/prod-planton-runner",
                "Deployment/prod-planton-runner",
            ]
        );
        assert!(!serde_json::to_string(&edit).unwrap().contains("\"secrets\""));
        let view = objects(&values(Access::View), "{}");
        assert!(!kinds(&view).iter().any(|k| k.starts_with("ClusterRole/")), "{view:?}");
        let person_only = Values { impersonate: true, require_impersonation: true, ..values(Access::None) };
        let objs = objects(&person_only, "{}");
        let role = objs.iter().find(|o| o["kind"] == "ClusterRole").unwrap();
        assert_eq!(
            role["rules"],
            json!([{ "apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"] }])
        );
        let cmd = &objs.last().unwrap()["spec"]["template"]["spec"]["containers"][0]["command"];
        assert!(cmd.as_array().unwrap().contains(&json!("--require-impersonation")), "{cmd}");
        let admin = Values { secrets: true, ..values(Access::Admin) };
        assert!(serde_json::to_string(&objects(&admin, "{}")).unwrap().contains("\"secrets\""));
    }

    #[test]
    fn the_image_and_the_credentials_checksum_are_the_charts() {
        let v = Values { registry: "ghcr.io/acme/".into(), ..values(Access::Edit) };
        assert_eq!(v.image(), "ghcr.io/acme/cloudops:0.1.0");
        let d = deployment(&v, "{}");
        // sha256("{}"), as Helm's sha256sum writes it.
        assert_eq!(
            d["spec"]["template"]["metadata"]["annotations"]["checksum/credentials"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
