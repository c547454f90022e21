"""Helm against a control plane's chart repository, as `helm install planton-runner --repo URL`
does it (helm-python-sdk carries Helm as a library): Helm reads the index, pulls the chart,
checks it, and renders it with a credentials file. Prints one JSON object: what Helm saw.

    python3 helm_repo.py REPO_URL CREDENTIALS_FILE WORK_DIR

A repository behind a private CA is trusted as Go programs trust one: SSL_CERT_FILE.
"""

import json
import pathlib
import sys

import helm_python as helm
import yaml

url, credentials, work = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
index = helm.repo_index(url)
helm.pull("planton-runner", repo_url=url, destination=str(work))
archives = sorted(work.glob("planton-runner-*.tgz"))
if len(archives) != 1:
    sys.exit(f"helm pull left {archives} in {work}")
with helm.Chart.load(archives[0]) as chart:
    rendered = chart.render({"credentials": credentials.read_text()}, name="prod", namespace="planton", is_install=True)
    name, version = chart.name, chart.version
objects = [o for text in rendered.values() for o in yaml.safe_load_all(text) if o]
print(
    json.dumps(
        {
            "index_digest": index["entries"]["planton-runner"][0]["digest"],
            "archive": archives[0].name,
            "archive_digest": helm.chart.digest(archives[0]),
            "chart": f"{name}-{version}",
            "objects": [f"{o['kind']}/{o['metadata']['name']}" for o in objects],
            "secret": next((o.get("stringData") or o.get("data") for o in objects if o["kind"] == "Secret"), None),
        }
    )
)
