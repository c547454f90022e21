"""Lints the Helm charts and renders them with the value sets users pick, with Helm itself
(the helm-python-sdk wheel carries Helm as a library; no helm binary is installed here).

    python3 .ci/helm_check.py OUT_DIR

Writes each rendering to OUT_DIR/<chart>-<case>.yaml (for `kubectl apply --dry-run=server`)
and fails on a lint error, a render error, or a case whose objects are not what it asks for.
"""

import pathlib
import sys

import yaml
from helm_python import chart as helm

ROOT = pathlib.Path(__file__).resolve().parent.parent
CREDS = '{"runner_id": "run-x"}'

# (case, values, check on the list of rendered objects)
RUNNER_CASES = [
    ("default", {"credentials": CREDS}, lambda objs: rules(objs) and not secrets(objs) and view(objs) and probed(objs)),
    (
        "placed",
        {
            "credentials": CREDS,
            "image": {"registry": "ghcr.io/acme", "tag": "1.2.3"},
            "imagePullSecrets": [{"name": "regcred"}],
            "nodeSelector": {"pool": "ops"},
            "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        },
        lambda objs: pod(objs)["containers"][0]["image"] == "ghcr.io/acme/cloudops:1.2.3"
        and pod(objs)["imagePullSecrets"] == [{"name": "regcred"}]
        and pod(objs)["nodeSelector"] == {"pool": "ops"}
        and pod(objs)["tolerations"][0]["key"] == "ops",
    ),
    ("view", {"credentials": CREDS, "rbac": {"access": "view"}}, lambda objs: not rules(objs) and view(objs)),
    ("admin-secrets", {"credentials": CREDS, "rbac": {"access": "admin", "secrets": True}}, lambda objs: secrets(objs)),
    (
        "person-only",
        {"credentials": CREDS, "requireImpersonation": True, "rbac": {"access": "none", "impersonate": True}},
        lambda objs: not view(objs)
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


def main(out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    path = ROOT / "helm" / "planton-runner"
    report = helm.lint(str(path), {"credentials": CREDS}, strict=True)
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
    if errors:
        failed.append(f"helm lint {path.name}: {errors}")
    c = helm.Chart.load(str(path))
    for case, values, check in RUNNER_CASES:
        try:
            manifests = c.render(values, name="prod", namespace="planton", is_install=True)
        except Exception as e:  # a render error names the template and line
            failed.append(f"{path.name} [{case}]: {e}")
            continue
        text = "\n---\n".join(m for _, m in sorted(manifests.items()) if m.strip())
        objs = [o for o in yaml.safe_load_all(text) if o]
        (out / f"{path.name}-{case}.yaml").write_text(text)
        if not check(objs):
            failed.append(f"{path.name} [{case}]: unexpected objects:\n{text}")
    try:
        c.render({"credentials": CREDS, "rbac": {"access": "root"}}, name="prod", namespace="planton")
        failed.append("rbac.access=root rendered: it must be refused")
    except Exception as e:
        if "rbac.access must be" not in str(e):
            failed.append(f"rbac.access=root refused without saying why: {e}")
    for f in failed:
        print(f"helm_check: {f}", file=sys.stderr)
    if not failed:
        print(f"helm_check: {path.name}: lint clean, {len(RUNNER_CASES)} renderings as asked ({out})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "test-output/helm"))
