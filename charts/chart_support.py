"""Harness of the chart tests (charts/chart_test.py): assertion bookkeeping, a real etcd +
kube-apiserver on loopback ports, Helm (helm-sdkpy) installs and release manifests, and small
network helpers. Nothing here is a stand-in: every call reaches a real process."""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import helm_sdkpy as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent

CHART = ROOT / "charts" / "backrunner"
FAILURES: list[str] = []

PASSED = 0

def check(cond: bool, what: str) -> None:
    """Records one assertion."""
    global PASSED
    if cond:
        PASSED += 1
    else:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)

def merge(base: dict, over: dict) -> dict:
    """Helm's value merge: maps merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0

def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""

def wait_for(pred, what: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    check(False, f"timed out waiting for {what}")
    return False

class ControlPlane:
    """etcd + kube-apiserver on loopback ports, token auth, RBAC authorization."""

    def __init__(self, tmp: Path, bin_dir: Path, etcd: str):
        self.tmp, self.procs = tmp, []
        self.token = base64.b16encode(os.urandom(16)).decode().lower()
        client, peer, self.port = free_port(), free_port(), free_port()
        self.procs.append(subprocess.Popen(
            [etcd, "--name", "t", "--data-dir", str(tmp / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "etcd.log", "w")))
        (tmp / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        subprocess.run(["openssl", "genrsa", "-out", str(tmp / "sa.key"), "2048"],
                       check=True, capture_output=True)
        self.procs.append(subprocess.Popen(
            [str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}",
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
             f"--secure-port={self.port}", "--insecure-port=0", f"--cert-dir={tmp / 'certs'}",
             f"--token-auth-file={tmp / 'tokens.csv'}", "--authorization-mode=RBAC",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={tmp / 'sa.key'}",
             f"--service-account-signing-key-file={tmp / 'sa.key'}",
             "--service-cluster-ip-range=10.96.0.0/16"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "apiserver.log", "w")))
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {
                "server": f"https://127.0.0.1:{self.port}", "insecure-skip-tls-verify": True}}],
            "users": [{"name": "t", "user": {"token": self.token}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
        }))
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"control plane process exited, see {self.tmp}/*.log")
            try:
                req = urllib.request.Request(f"https://127.0.0.1:{self.port}/readyz",
                                             headers={"Authorization": f"Bearer {self.token}"})
                if urllib.request.urlopen(req, context=ctx, timeout=2).status == 200:
                    # The default namespace is created by a post-start hook, just after readyz.
                    if self.kubectl("get", "namespace", "default", check=False).returncode == 0:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("kube-apiserver not ready after 120 s")

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None):
        return subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
                              input=stdin, capture_output=True, text=True, check=check)

    def has_api(self, group_version: str) -> bool:
        out = self.kubectl("api-versions").stdout.split()
        return group_version in out

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

SERVICEMONITOR_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor, listKind: ServiceMonitorList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""

def release_manifest(cp: ControlPlane, ns: str, release: str) -> list[dict]:
    """The release's rendered manifest, from Helm's release Secret (base64 + gzip + JSON)."""
    data = cp.kubectl("-n", ns, "get", "secret", f"sh.helm.release.v1.{release}.v1",
                      "-o", "jsonpath={.data.release}").stdout
    rel = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(data))))
    return [d for d in yaml.safe_load_all(rel["manifest"]) if d]

def install(cp: ControlPlane, name: str, values: dict) -> tuple[str, str, list[dict]]:
    ns, release = f"chart-{name}", f"br-{name}"
    cfg = helm.Configuration(namespace=ns, kubeconfig=str(cp.kubeconfig))
    asyncio.run(helm.Install(cfg).run(release, str(CHART), values=values,
                                      create_namespace=True, wait=False, timeout=120))
    return ns, release, release_manifest(cp, ns, release)

def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]

def one(docs: list[dict], kind: str, component: str) -> dict | None:
    found = [d for d in by_kind(docs, kind)
             if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
    return found[0] if len(found) == 1 else None

def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
