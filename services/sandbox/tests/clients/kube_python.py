"""The official Kubernetes Python client through the Cloud Ops API proxy, with the kubeconfig
`planton kube login` wrote (its exec credential plugin included): list, watch, exec, and
port-forward. Prints one line per check; any failure raises, and the exit code says so.

Usage: kube_python.py NAMESPACE POD ECHO_PORT
"""

import sys

from kubernetes import client, config, watch
from kubernetes.stream import portforward, stream

ns, pod, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
config.load_kube_config()
core = client.CoreV1Api()

pods = core.list_namespaced_pod(ns)
names = [p.metadata.name for p in pods.items]
assert pod in names, names
print("list", len(names))

w = watch.Watch()
seen = None
for event in w.stream(core.list_namespaced_pod, ns, field_selector=f"metadata.name={pod}", timeout_seconds=20):
    seen = (event["type"], event["object"].metadata.name)
    w.stop()
assert seen == ("ADDED", pod), seen
print("watch", *seen)

out = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=["echo", "from-python"],
             stderr=True, stdin=False, stdout=True, tty=False)
assert out.strip() == "from-python", repr(out)
print("exec", out.strip())

pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports=str(port))
sock = pf.socket(port)
sock.setblocking(True)
sock.sendall(b"ping-through-the-proxy\n")
got = b""
while not got.endswith(b"\n"):
    chunk = sock.recv(1024)
    assert chunk, got
    got += chunk
assert got == b"ping-through-the-proxy\n", got
sock.close()
err = pf.error(port)
assert err is None, err
print("portforward", got.decode().strip())
