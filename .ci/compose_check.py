"""Validates compose.yaml without Docker: against the official Compose Specification schema, and
for what that schema cannot say.

    python3 .ci/compose_check.py [compose.yaml …]

The schema is compose-spec's own `compose-spec.json`, as vendored in the check-jsonschema
package (PyPI; `check-jsonschema --builtin-schema vendor.compose-spec`), which refreshes it
from the compose-spec repository with each release: no copy is kept here. On top of the schema:
every `depends_on` target is a service, a `service_healthy` dependency has a healthcheck, every
secret and named volume a service uses is declared at the top level, and no healthcheck uses
/dev/tcp (the image's /bin/sh is dash, which has none). A self-test first shows that each of
these checks, and the schema, refuses a file that breaks it.
"""

import copy
import importlib.metadata
import pathlib
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def schema_errors(path):
    """check-jsonschema's verdict on one file against the vendored compose-spec schema."""
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    return [] if run.returncode == 0 else [(run.stdout + run.stderr).strip()]


def named_volume(spec):
    """The named volume a service's volume entry uses, or None for a bind mount or tmpfs."""
    if isinstance(spec, dict):
        return spec.get("source") if spec.get("type", "volume") == "volume" else None
    source = spec.split(":", 1)[0] if ":" in spec else None
    if not source or source.startswith((".", "/", "~", "$")):
        return None
    return source


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def semantic_errors(doc):
    errors = []
    services = doc.get("services") or {}
    secrets = doc.get("secrets") or {}
    volumes = doc.get("volumes") or {}
    for name, svc in services.items():
        svc = svc or {}
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                errors.append(f"services.{name}.depends_on: {dep!r} is not a service")
            elif (
                isinstance(deps, dict)
                and (deps[dep] or {}).get("condition") == "service_healthy"
                and not (services[dep] or {}).get("healthcheck", {}).get("test")
            ):
                errors.append(f"services.{name}.depends_on: {dep!r} must be healthy but has no healthcheck")
        for s in svc.get("secrets") or []:
            source = s.get("source") if isinstance(s, dict) else s
            if source not in secrets:
                errors.append(f"services.{name}.secrets: {source!r} is not declared under secrets")
        for v in svc.get("volumes") or []:
            source = named_volume(v)
            if source is not None and source not in volumes:
                errors.append(f"services.{name}.volumes: {source!r} is not declared under volumes")
        test = (svc.get("healthcheck") or {}).get("test")
        if any("/dev/tcp" in s for s in strings(test)):
            errors.append(f"services.{name}.healthcheck: /dev/tcp is a bash feature; the image's /bin/sh is dash")
        errors += unread_variables(name, svc)
    return errors


# The variables each `cloudops` subcommand reads: its flags' `env = "…"` in these files.
READS = {"serve": "services/controlplane/src/config.rs", "hub": "services/controlplane/src/hub_only.rs"}


def unread_variables(name, svc):
    """A CLOUDOPS_* variable given to `cloudops serve` or `cloudops hub` that it does not read
    is a setting silently ignored (a typo, or a flag of the other command)."""
    import re

    command = svc.get("command") or []
    if svc.get("entrypoint") or not command or command[0] not in READS:
        return []
    known = set(re.findall(r'env = "([A-Z_]+)"', (ROOT / READS[command[0]]).read_text()))
    env = svc.get("environment") or {}
    names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
    return [
        f"services.{name}.environment: {v} is not read by cloudops {command[0]}"
        for v in names
        if v.startswith("CLOUDOPS_") and v not in known
    ]


def self_test(doc):
    """Each check must refuse a file that breaks it: else it checks nothing."""
    failed = []
    first = next(iter(doc["services"]))

    def broken(edit):
        d = copy.deepcopy(doc)
        edit(d)
        return d

    cases = {
        "a depends_on target that is no service": lambda d: d["services"][first].update(depends_on=["nowhere"]),
        "service_healthy on a service without a healthcheck": lambda d: (
            d["services"].update(plain={"image": "busybox"}),
            d["services"][first].update(depends_on={"plain": {"condition": "service_healthy"}}),
        ),
        "an undeclared secret": lambda d: d["services"][first].update(secrets=["undeclared"]),
        "an undeclared named volume": lambda d: d["services"][first].update(volumes=["undeclared:/data"]),
        "a /dev/tcp healthcheck": lambda d: d["services"][first].update(
            healthcheck={"test": ["CMD-SHELL", "exec 3<>/dev/tcp/127.0.0.1/7480"]}
        ),
        "a variable cloudops serve does not read": lambda d: d["services"].update(
            cp={"image": "cloudops:dev", "command": ["serve"], "environment": {"CLOUDOPS_LISTN": "0.0.0.0:7480"}}
        ),
    }
    for what, edit in cases.items():
        if not semantic_errors(broken(edit)):
            failed.append(f"self-test: {what} was not refused")
    with tempfile.TemporaryDirectory() as tmp:
        bad = pathlib.Path(tmp) / "compose.yaml"
        bad.write_text(yaml.safe_dump(broken(lambda d: d["services"][first].update(healthchek={"test": ["NONE"]}))))
        if not schema_errors(bad):
            failed.append("self-test: the schema took an unknown service key (healthchek)")
    return failed


def main(path):
    path = pathlib.Path(path)
    doc = yaml.safe_load(path.read_text())
    failed = self_test(doc) + schema_errors(path) + semantic_errors(doc)
    for f in failed:
        print(f"compose_check: {path.name}: {f}", file=sys.stderr)
    if not failed:
        version = importlib.metadata.version("check-jsonschema")
        print(
            f"compose_check: {path.name} is valid against the compose-spec schema (check-jsonschema {version})"
            f" and declares what its {len(doc['services'])} services use"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    files = sys.argv[1:] or [ROOT / "compose.yaml"]
    sys.exit(max(main(f) for f in files))
