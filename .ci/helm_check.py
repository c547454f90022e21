"""Lints the Helm charts (helm/planton-runner, helm/cloudops) and renders them with the value
sets users pick, with Helm itself (the helm-python-sdk wheel carries Helm as a library; no helm
binary is installed here).

    python3 .ci/helm_check.py OUT_DIR
    python3 .ci/helm_check.py --same-as-deploy PLANTON_RUNNER

The second form checks that `planton-runner deploy --target kubernetes` (which applies the
chart's objects without Helm) makes the same objects as the chart for the same values.

Writes each rendering to OUT_DIR/<chart>-<case>.yaml (for `kubectl apply --dry-run=server`)
and fails on a lint error, a render error, a case whose objects (or NOTES.txt) are not what it
asks for, or a value set the chart must refuse that renders, or is refused for another reason.
"""

import pathlib
import sys

import yaml
from helm_python import chart as helm

ROOT = pathlib.Path(__file__).resolve().parent.parent
CREDS = '{"runner_id": "run-x"}'

# (case, values, check on the list of rendered objects)
RUNNER_CASES = [
    ("default", {"credentials": CREDS}, lambda objs, notes: rules(objs) and not secrets(objs) and view(objs) and probed(objs)),
    (
        "placed",
        {
            "credentials": CREDS,
            "image": {"registry": "ghcr.io/acme", "tag": "1.2.3"},
            "imagePullSecrets": [{"name": "regcred"}],
            "nodeSelector": {"pool": "ops"},
            "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        },
        lambda objs, notes: pod(objs)["containers"][0]["image"] == "ghcr.io/acme/cloudops:1.2.3"
        and pod(objs)["imagePullSecrets"] == [{"name": "regcred"}]
        and pod(objs)["nodeSelector"] == {"pool": "ops"}
        and pod(objs)["tolerations"][0]["key"] == "ops",
    ),
    ("view", {"credentials": CREDS, "rbac": {"access": "view"}}, lambda objs, notes: not rules(objs) and view(objs)),
    ("admin-secrets", {"credentials": CREDS, "rbac": {"access": "admin", "secrets": True}}, lambda objs, notes: secrets(objs)),
    (
        "person-only",
        {"credentials": CREDS, "requireImpersonation": True, "rbac": {"access": "none", "impersonate": True}},
        lambda objs, notes: not view(objs)
        and [r["resources"] for r in rules(objs)] == [["users", "groups"]]
        and "--require-impersonation" in deployment(objs)["spec"]["template"]["spec"]["containers"][0]["command"],
    ),
]


def of_kind(objs, kind):
    return [o for o in objs if o and o.get("kind") == kind]


def rules(objs):
    return [r for role in of_kind(objs, "ClusterRole") for r in role["rules"]]


def secrets(objs):
    return any("secrets" in r["resources"] for r in rules(objs))


def view(objs):
    return any(b["roleRef"]["name"] == "view" for b in of_kind(objs, "ClusterRoleBinding"))


def deployment(objs):
    return of_kind(objs, "Deployment")[0]


def pod(objs):
    return deployment(objs)["spec"]["template"]["spec"]


def probed(objs):
    c = pod(objs)["containers"][0]
    return (
        c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        and "--health-addr" in c["command"]
    )


# The control plane's chart. Runner refusals first, then the control plane's cases.
RUNNER_REFUSALS = [
    ("rbac-root", {"credentials": CREDS, "rbac": {"access": "root"}}, "rbac.access must be"),
    ("no-credentials", {}, "set credentials"),
]

PG = "postgres://cloudops:secret@pg.db.svc:5432/cloudops"
NATS = {"url": "nats://nats.nats.svc:4222", "leafUrl": "tls://leaf.example.com:7422"}

CLOUDOPS_CASES = [
    (
        # Prometheus metrics on a port of their own, the pod annotated for scrapers; off by default.
        "metrics",
        {"metrics": {"enabled": True}},
        lambda objs, notes: serves(objs)
        and env(objs)["CLOUDOPS_METRICS_LISTEN"] == "0.0.0.0:9464"
        and {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container(objs)["ports"]
        and deployment(objs)["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9464",
    ),
    (
        # Today's design: SQLite and the CA in a persistent data dir, the hub in the pod, the
        # gateway's own certificate, the leafnode port on a LoadBalancer.
        "default",
        {},
        lambda objs, notes: serves(objs)
        and probes(objs) == {"HTTPS"}
        and hardened(objs)
        and "CLOUDOPS_DATABASE_URL" not in env(objs)
        and "CLOUDOPS_NATS_URL" not in env(objs)
        and "CLOUDOPS_TLS_CERT" not in env(objs)
        and "CLOUDOPS_METRICS_LISTEN" not in env(objs)
        and env(objs)["CLOUDOPS_LEAF_LISTEN"] == "0.0.0.0:7422"
        and env(objs)["CLOUDOPS_PUBLIC_HOST"] == "prod-cloudops-leaf.planton.svc"
        and env(objs)["CLOUDOPS_PUBLIC_URL"] == "https://prod-cloudops.planton.svc:7480"
        and service(objs, "prod-cloudops")["spec"]["type"] == "ClusterIP"
        and service(objs, "prod-cloudops-leaf")["spec"]["type"] == "LoadBalancer"
        and service(objs, "prod-cloudops-leaf")["spec"]["ports"][0]["port"] == 7422
        and volume(objs, "data") == {"name": "data", "persistentVolumeClaim": {"claimName": "prod-cloudops-data"}}
        and of_kind(objs, "PersistentVolumeClaim")[0]["metadata"]["name"] == "prod-cloudops-data"
        and deployment(objs)["spec"]["strategy"]["type"] == "Recreate"
        and not of_kind(objs, "PodDisruptionBudget")
        and not of_kind(objs, "Ingress")
        and not of_kind(objs, "Secret")
        and of_kind(objs, "ServiceAccount")[0]["metadata"]["name"] == pod(objs)["serviceAccountName"]
        and "grep 'bootstrap admin API key'" in notes
        and "planton login --endpoint https://127.0.0.1:7480 --api-key KEY --ca-file cloudops-ca.pem" in notes
        and "set publicHost" in notes,
    ),
    (
        # PostgreSQL by URL, the operator's certificate, an Ingress and a LoadBalancer for the
        # gateway, placed on chosen nodes from a private registry.
        "postgres-tls-ingress",
        {
            "database": {"url": PG},
            "tls": {"existingSecret": "cloudops-tls"},
            "publicHost": "leaf.example.com",
            "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]},
            "leafnode": {"service": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}}},
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "cloudops.example.com",
                "annotations": {"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"},
                "tls": [{"secretName": "cloudops-ingress-tls", "hosts": ["cloudops.example.com"]}],
            },
            "image": {"registry": "ghcr.io/acme", "tag": "1.2.3"},
            "imagePullSecrets": [{"name": "regcred"}],
            "nodeSelector": {"pool": "ops"},
            "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        },
        lambda objs, notes: serves(objs)
        and probes(objs) == {"HTTPS"}
        and hardened(objs)
        and database_from(objs) == {"name": "prod-cloudops-database", "key": "url"}
        and secret_value(objs, "prod-cloudops-database", "url") == PG
        and PG not in str(deployment(objs))
        and volume(objs, "tls")["secret"]["secretName"] == "cloudops-tls"
        and mount(objs, "tls") == {"name": "tls", "mountPath": "/etc/cloudops/tls", "readOnly": True}
        and env(objs)["CLOUDOPS_TLS_CERT"] == "/etc/cloudops/tls/tls.crt"
        and env(objs)["CLOUDOPS_TLS_KEY"] == "/etc/cloudops/tls/tls.key"
        and env(objs)["CLOUDOPS_PUBLIC_URL"] == "https://cloudops.example.com"
        and env(objs)["CLOUDOPS_PUBLIC_HOST"] == "leaf.example.com"
        and service(objs, "prod-cloudops")["spec"]["type"] == "LoadBalancer"
        and service(objs, "prod-cloudops")["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
        and service(objs, "prod-cloudops-leaf")["metadata"]["annotations"]
        == {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
        and ingress_backend(objs) == ("cloudops.example.com", "prod-cloudops", "https")
        and of_kind(objs, "Ingress")[0]["spec"]["ingressClassName"] == "nginx"
        and of_kind(objs, "Ingress")[0]["spec"]["tls"][0]["secretName"] == "cloudops-ingress-tls"
        and container(objs)["image"] == "ghcr.io/acme/cloudops:1.2.3"
        and pod(objs)["imagePullSecrets"] == [{"name": "regcred"}]
        and pod(objs)["nodeSelector"] == {"pool": "ops"}
        and pod(objs)["tolerations"][0]["key"] == "ops"
        and "--ca-file" not in notes
        and "tls://leaf.example.com:7422" in notes,
    ),
    (
        # Three replicas on PostgreSQL from an existing Secret and an existing NATS: no hub in the
        # pod, so no leafnode port or Service; a PodDisruptionBudget.
        "external-nats-replicas",
        {
            "replicas": 3,
            "database": {"existingSecret": "pg", "existingSecretKey": "dsn"},
            "nats": NATS,
            "persistence": {"enabled": False},
        },
        lambda objs, notes: serves(objs)
        and deployment(objs)["spec"]["replicas"] == 3
        and deployment(objs)["spec"]["strategy"]["type"] == "RollingUpdate"
        and database_from(objs) == {"name": "pg", "key": "dsn"}
        and not of_kind(objs, "Secret")
        and env(objs)["CLOUDOPS_NATS_URL"] == NATS["url"]
        and env(objs)["CLOUDOPS_LEAF_URL"] == NATS["leafUrl"]
        and "CLOUDOPS_LEAF_LISTEN" not in env(objs)
        and [p["name"] for p in container(objs)["ports"]] == ["gateway"]
        and [s["metadata"]["name"] for s in of_kind(objs, "Service")] == ["prod-cloudops"]
        and pdb(objs)["spec"]["maxUnavailable"] == 1
        and pdb(objs)["spec"]["selector"]["matchLabels"] == deployment(objs)["spec"]["selector"]["matchLabels"]
        and volume(objs, "data") == {"name": "data", "emptyDir": {}}
        and not of_kind(objs, "PersistentVolumeClaim")
        and "on an existing NATS" in notes
        and "persistence is disabled" in notes,
    ),
    (
        # Plain HTTP behind an Ingress that terminates TLS; the org, more flags and variables.
        "plain-http",
        {
            "plainHttp": True,
            "org": "acme",
            "extraArgs": ["--op-timeout-secs", "30"],
            "extraEnv": [{"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel:4318"}],
            "podAnnotations": {"a/b": "c"},
            "ingress": {
                "enabled": True,
                "host": "cloudops.example.com",
                "tls": [{"secretName": "cloudops-ingress-tls", "hosts": ["cloudops.example.com"]}],
            },
        },
        lambda objs, notes: serves(objs)
        and probes(objs) == {"HTTP"}
        and env(objs)["CLOUDOPS_PLAIN_HTTP"] == "true"
        and "CLOUDOPS_TLS_CERT" not in env(objs)
        and env(objs)["CLOUDOPS_PUBLIC_URL"] == "https://cloudops.example.com"
        and service(objs, "prod-cloudops")["spec"]["ports"][0]["name"] == "http"
        and ingress_backend(objs) == ("cloudops.example.com", "prod-cloudops", "http")
        and container(objs)["command"][2:] == ["--org", "acme", "--op-timeout-secs", "30"]
        and env(objs)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4318"
        and deployment(objs)["spec"]["template"]["metadata"]["annotations"]["a/b"] == "c"
        and "--ca-file" not in notes,
    ),
    (
        # High availability: two control planes on PostgreSQL joined to the chart's hub of three
        # nodes (a StatefulSet sharing the CA and keys of an existing Secret).
        "hub-cluster",
        {
            "replicas": 2,
            "hub": {"nodes": 3, "existingSecret": "cloudops-hub"},
            "database": {"url": PG},
            "persistence": {"enabled": False},
            "publicHost": "leaf.example.com",
        },
        lambda objs, notes: serves(objs)
        and hub_node(objs)
        and deployment(objs)["spec"]["replicas"] == 2
        and env(objs)["CLOUDOPS_NATS_URL"]
        == ",".join(f"tls://prod-cloudops-hub-{i}.prod-cloudops-hub.planton.svc:4222" for i in range(3))
        and env(objs)["CLOUDOPS_LEAF_URL"] == "tls://leaf.example.com:7422"
        and env(objs)["CLOUDOPS_HUB_KEYS_FILE"] == "/etc/cloudops/hub/hub-keys.secret"
        and env(objs)["CLOUDOPS_CA_DIR"] == "/etc/cloudops/hub"
        and env(objs)["CLOUDOPS_SECRETS_KEY_FILE"] == "/etc/cloudops/hub/secrets.key"
        and statefulset(objs)["spec"]["minReadySeconds"] >= 10
        and "CLOUDOPS_LEAF_LISTEN" not in env(objs)
        and [p["name"] for p in container(objs)["ports"]] == ["gateway"]
        and volume(objs, "hub-secret")["secret"]["secretName"] == "cloudops-hub"
        and mount(objs, "hub-secret")["readOnly"]
        and service(objs, "prod-cloudops")["spec"]["selector"] == deployment(objs)["spec"]["selector"]["matchLabels"]
        and service(objs, "prod-cloudops-leaf")["spec"]["selector"] == statefulset(objs)["spec"]["selector"]["matchLabels"]
        and service(objs, "prod-cloudops-hub")["spec"]["clusterIP"] == "None"
        and sorted(p["metadata"]["name"] for p in of_kind(objs, "PodDisruptionBudget")) == ["prod-cloudops", "prod-cloudops-hub"]
        and "statefulset/prod-cloudops-hub" in notes
        and "persistence is disabled" not in notes,
    ),
]

# (case, values, what the refusal must say)
CLOUDOPS_REFUSALS = [
    ("replicas-without-postgres", {"replicas": 3, "nats": NATS, "persistence": {"enabled": False}}, "replicas: 3 needs PostgreSQL"),
    (
        "replicas-on-sqlite-url",
        {"replicas": 3, "database": {"url": "sqlite:///data/cloudops.db"}, "nats": NATS, "persistence": {"enabled": False}},
        "replicas: 3 needs PostgreSQL",
    ),
    (
        "replicas-without-nats",
        {"replicas": 3, "database": {"url": PG}, "persistence": {"enabled": False}},
        "replicas: 3 needs a hub they share",
    ),
    (
        "replicas-on-one-rwo-volume",
        {"replicas": 3, "database": {"url": PG}, "nats": NATS},
        "replicas: 3 cannot share one ReadWriteOnce data volume",
    ),
    ("nats-without-leaf-url", {"nats": {"url": NATS["url"]}}, "nats.url needs nats.leafUrl"),
    ("leaf-url-not-tls", {"nats": {"url": NATS["url"], "leafUrl": "nats://leaf:7422"}}, "must be a tls:// URL"),
    ("plain-http-and-tls-secret", {"plainHttp": True, "tls": {"existingSecret": "x"}}, "exclude each other"),
    ("http-url-over-https", {"publicUrl": "http://cloudops.example.com"}, "the gateway serves HTTPS"),
    ("two-databases", {"database": {"url": PG, "existingSecret": "pg"}}, "not both"),
    ("ingress-without-host", {"ingress": {"enabled": True}}, "ingress.enabled needs ingress.host"),
    ("hub-without-secret", {"hub": {"nodes": 3}}, "hub.nodes needs hub.existingSecret"),
    ("hub-of-two", {"hub": {"nodes": 2, "existingSecret": "cloudops-hub"}}, "hub.nodes: 2"),
    ("hub-and-nats", {"hub": {"nodes": 3, "existingSecret": "cloudops-hub"}, "nats": NATS}, "exclude each other"),
]


def container(objs):
    return pod(objs)["containers"][0]


def env(objs):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objs)["env"]}


def serve_env():
    """The variables `cloudops serve` reads: its flags' `env = "…"` in config.rs, PLANTON_HOME and
    the telemetry's OTEL_EXPORTER_OTLP_ENDPOINT."""
    import re

    config = (ROOT / "services" / "controlplane" / "src" / "config.rs").read_text()
    return set(re.findall(r'env = "([A-Z_]+)"', config)) | {"PLANTON_HOME", "OTEL_EXPORTER_OTLP_ENDPOINT"}


def serves(objs):
    """`cloudops serve` on the gateway port, given only variables it reads."""
    unknown = set(env(objs)) - serve_env()
    if unknown:
        print(f"helm_check: cloudops sets variables cloudops serve does not read: {sorted(unknown)}", file=sys.stderr)
    return (
        not unknown
        and container(objs)["command"][:2] == ["/usr/local/bin/cloudops", "serve"]
        and container(objs)["ports"][0] == {"name": "gateway", "containerPort": 7480, "protocol": "TCP"}
    )


def statefulset(objs):
    return of_kind(objs, "StatefulSet")[0]


def hub_node(objs):
    """The hub's StatefulSet: `cloudops hub` given only variables it reads, one node per pod
    named after the pod, routes to every node by its stable name, the shared Secret."""
    import re

    flags = (ROOT / "services" / "controlplane" / "src" / "hub_only.rs").read_text()
    known = set(re.findall(r'env = "([A-Z_]+)"', flags))
    sts = statefulset(objs)
    c = sts["spec"]["template"]["spec"]["containers"][0]
    e = {v["name"]: v.get("value", v.get("valueFrom")) for v in c["env"]}
    unknown = set(e) - known
    if unknown:
        print(f"helm_check: the hub sets variables cloudops hub does not read: {sorted(unknown)}", file=sys.stderr)
    n = sts["spec"]["replicas"]
    return (
        not unknown
        and c["command"] == ["/usr/local/bin/cloudops", "hub"]
        and sts["spec"]["serviceName"] == "prod-cloudops-hub"
        and e["CLOUDOPS_NODE_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        and e["CLOUDOPS_HUB_ROUTES"]
        == ",".join(f"prod-cloudops-hub-{i}.prod-cloudops-hub.planton.svc:6222" for i in range(n))
        and e["CLOUDOPS_HUB_KEYS_FILE"].startswith("/etc/cloudops/hub/")
        and sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        and sts["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "cloudops-hub"
        and c["securityContext"]["readOnlyRootFilesystem"]
    )


def probes(objs):
    """The schemes of the three probes, each of which must be the gateway's /healthz."""
    c = container(objs)
    gets = [c[p]["httpGet"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    if any(g["path"] != "/healthz" or g["port"] != "gateway" for g in gets):
        return None
    return {g["scheme"] for g in gets}


def hardened(objs):
    s, c = pod(objs)["securityContext"], container(objs)["securityContext"]
    return (
        s["runAsNonRoot"]
        and s["runAsUser"] == 10001
        and s["fsGroup"] == 10001
        and c["readOnlyRootFilesystem"]
        and not c["allowPrivilegeEscalation"]
        and pod(objs)["automountServiceAccountToken"] is False
        and {m["mountPath"] for m in container(objs)["volumeMounts"]} >= {"/home/cloudops/.planton", "/tmp"}
        and env(objs)["CLOUDOPS_DATA_DIR"].startswith("/home/cloudops/.planton/")
    )


def volume(objs, name):
    return next((v for v in pod(objs)["volumes"] if v["name"] == name), None)


def mount(objs, name):
    return next((m for m in container(objs)["volumeMounts"] if m["name"] == name), None)


def service(objs, name):
    return next(s for s in of_kind(objs, "Service") if s["metadata"]["name"] == name)


def pdb(objs):
    return of_kind(objs, "PodDisruptionBudget")[0]


def database_from(objs):
    return env(objs)["CLOUDOPS_DATABASE_URL"]["secretKeyRef"]


def secret_value(objs, name, key):
    import base64

    s = next(s for s in of_kind(objs, "Secret") if s["metadata"]["name"] == name)
    return base64.b64decode(s["data"][key]).decode()


def ingress_backend(objs):
    rule = of_kind(objs, "Ingress")[0]["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    return rule["host"], backend["name"], backend["port"]["name"]


# (chart, values for lint, cases that render, cases that must be refused)
CHARTS = [
    ("planton-runner", {"credentials": CREDS}, RUNNER_CASES, RUNNER_REFUSALS),
    ("cloudops", {}, CLOUDOPS_CASES, CLOUDOPS_REFUSALS),
]


def main(out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed, done = [], []
    for name, lint_values, cases, refusals in CHARTS:
        path = ROOT / "helm" / name
        report = helm.lint(str(path), lint_values, strict=True)
        errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
        if errors:
            failed.append(f"helm lint {name}: {errors}")
        c = helm.Chart.load(str(path))
        for case, values, check in cases:
            try:
                manifests = c.render(values, name="prod", namespace="planton", is_install=True)
            except Exception as e:  # a render error names the template and line
                failed.append(f"{name} [{case}]: {e}")
                continue
            notes = "".join(m for k, m in manifests.items() if k.endswith("/NOTES.txt"))
            text = "\n---\n".join(m for k, m in sorted(manifests.items()) if m.strip() and not k.endswith("/NOTES.txt"))
            objs = [o for o in yaml.safe_load_all(text) if o]
            (out / f"{name}-{case}.yaml").write_text(text)
            if not check(objs, notes):
                failed.append(f"{name} [{case}]: unexpected objects:\n{text}\nNOTES.txt:\n{notes}")
        for case, values, why in refusals:
            try:
                c.render(values, name="prod", namespace="planton", is_install=True)
                failed.append(f"{name} [{case}] rendered: it must be refused ({why!r})")
            except Exception as e:
                if why not in str(e):
                    failed.append(f"{name} [{case}] refused without saying {why!r}: {e}")
        done.append(f"{name}: lint clean, {len(cases)} renderings as asked, {len(refusals)} refused")
    return report_and_exit(failed, f"{'; '.join(done)} ({out})")


def report_and_exit(failed, ok_line):
    for f in failed:
        print(f"helm_check: {f}", file=sys.stderr)
    if not failed:
        print(f"helm_check: {ok_line}")
    return 1 if failed else 0


# (chart values, the same as `planton-runner deploy` flags)
DEPLOY_CASES = [
    ({}, []),
    ({"rbac": {"access": "view"}}, ["--rbac", "view"]),
    ({"rbac": {"access": "admin", "secrets": True}}, ["--rbac", "admin", "--rbac-secrets"]),
    (
        {"requireImpersonation": True, "rbac": {"access": "none", "impersonate": True}},
        ["--rbac", "none", "--impersonate", "--require-impersonation"],
    ),
    (
        {"image": {"registry": "ghcr.io/acme", "tag": "1.2.3"}, "serviceAccount": {"annotations": {"a/b": "c"}}},
        ["--image-registry", "ghcr.io/acme", "--image-tag", "1.2.3", "--service-account-annotation", "a/b=c"],
    ),
    (
        {"imagePullSecrets": [{"name": "regcred"}], "nodeSelector": {"pool": "ops"}},
        ["--image-pull-secret", "regcred", "--node-selector", "pool=ops"],
    ),
]


def comparable(objs):
    """Objects keyed by kind/name, without what only one side sets: the namespace (Helm's -n),
    the Namespace object (Helm's --create-namespace), the Secret and the credentials checksum."""
    out = {}
    for o in objs:
        if not o or o["kind"] in ("Namespace", "Secret"):
            continue
        o["metadata"].pop("namespace", None)
        if o["kind"] == "Deployment":
            o["spec"]["template"]["metadata"].get("annotations", {}).pop("checksum/credentials", None)
        out[f'{o["kind"]}/{o["metadata"]["name"]}'] = o
    return out


def same_as_deploy(runner):
    import json
    import subprocess

    c = helm.Chart.load(str(ROOT / "helm" / "planton-runner"))
    failed = []
    for values, flags in DEPLOY_CASES:
        if "image" not in values:
            values = {**values, "image": {"tag": "0.1.0"}}
            flags = flags + ["--image-tag", "0.1.0"]
        chart = c.render({"credentials": CREDS, **values}, name="prod", namespace="planton", is_install=True)
        chart_objs = comparable(o for m in chart.values() for o in yaml.safe_load_all(m) if o)
        run = subprocess.run(
            [runner, "deploy", "prod", "--target", "kubernetes", "--namespace", "planton", "--dry-run", "-o", "json", *flags],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            failed.append(f"planton-runner deploy {flags}: {run.stderr}")
            continue
        ours = comparable(json.loads(run.stdout)["items"])
        if ours != chart_objs:
            for k in sorted(set(ours) | set(chart_objs)):
                if ours.get(k) != chart_objs.get(k):
                    failed.append(f"{flags}: {k} differs\n chart: {chart_objs.get(k)}\n deploy: {ours.get(k)}")
    return report_and_exit(failed, f"planton-runner deploy makes the chart's objects ({len(DEPLOY_CASES)} value sets)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--same-as-deploy":
        sys.exit(same_as_deploy(sys.argv[2]))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "test-output/helm"))
