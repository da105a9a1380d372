"""Chart checks that run the real binary: the rendered start scripts and configuration files
(two nodes, two proxies, HTTPS with a mounted certificate), and the real operator as the
chart's ServiceAccount against the real apiserver."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import yaml

from chart_support import (FAILURES, ROOT, ControlPlane, by_kind, check, env_of, free_port, http_get,
                           one, port_open, wait_for)


def all_docs_proxy_toml(docs: list[dict]) -> str:
    return next(d["data"]["proxy.toml"] for d in by_kind(docs, "ConfigMap") if "proxy.toml" in d["data"])


def start_proxy(tmp: Path, scripts: Path, docs: list[dict], config: Path, binary: str, node_port: int,
                tag: str, hub: str) -> tuple[subprocess.Popen, str]:
    """Runs proxy-start.sh with the proxy pod's environment of `docs`, local paths and ports."""
    proxy = one(docs, "Deployment", "proxy")
    pod_env = {k: v for k, v in env_of(proxy["spec"]["template"]["spec"]["containers"][0]).items()
               if isinstance(v, str)}
    text = config.read_text()
    check(text.count("placement_hub = ") == 1, f"{tag}: proxy.toml names the placement hub")
    config.write_text(re.sub(r'(?m)^placement_hub = .*$', f'placement_hub = "{hub}"', text))
    env = dict(os.environ, **pod_env)
    env.update(BACKRUNNER_BIN=binary, BACKRUNNER_PROXY_CONFIG=str(config),
               BACKRUNNER_STORAGE_REMOTES=f"localhost:{node_port}", RESOLVE_TIMEOUT_SECONDS="10")
    http = free_port()
    proc = subprocess.Popen(["/bin/sh", str(scripts / "proxy-start.sh"), "--listen", f"127.0.0.1:{http}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / f"{tag}.log", "w"))
    return proc, f"http://127.0.0.1:{http}"


def test_rendered_files_run(tmp: Path, docs: list[dict], all_docs: list[dict], binary: str) -> None:
    """The default scenario's scripts and configs, run as the pods would run them, and the
    every-feature scenario's proxy.toml."""
    cms = {k: v for d in by_kind(docs, "ConfigMap") for k, v in d["data"].items()}
    scripts, conf = tmp / "scripts", tmp / "conf"
    scripts.mkdir()
    conf.mkdir()
    for f in ("lib.sh", "node-start.sh", "proxy-start.sh"):
        (scripts / f).write_text(cms[f])
    for f in ("node-base.toml", "node-backend.toml", "proxy.toml"):
        (conf / f).write_text(cms[f])
    sts = one(docs, "StatefulSet", "node")
    node_env = env_of(sts["spec"]["template"]["spec"]["containers"][0])
    ports = [free_port(), free_port()]
    procs = []
    try:
        for i, port in enumerate(ports):
            env = dict(os.environ, BACKRUNNER_BIN=binary, POD_IP="127.0.0.1",
                       POD_NAME=f"{sts['metadata']['name']}-{i}", NODE_PORT=str(port),
                       NODE_GROUPS=node_env["NODE_GROUPS"], CONFIG_DIR=str(conf),
                       RUN_DIR=str(tmp / f"run{i}"), DATA_DIR=str(tmp / f"data{i}"),
                       NODE_PEERS=",".join(f"localhost:{p}" for p in ports))
            procs.append(subprocess.Popen(["/bin/sh", str(scripts / "node-start.sh")], env=env,
                                          stdout=subprocess.DEVNULL, stderr=open(tmp / f"node{i}.log", "w")))
        for i, port in enumerate(ports):
            wait_for(lambda: port_open(port), f"node {i}")
        node_toml = tomllib.loads((tmp / "run1" / "node.toml").read_text())
        check(node_toml["backends"][0]["group"] == 2 and node_toml["remotes"] == [f"127.0.0.1:{ports[0]}:2"]
              and node_toml["advertise"] == f"127.0.0.1:{ports[1]}:2", f"rendered node.toml {node_toml}")
        remote = f"127.0.0.1:{ports[0]}"
        subprocess.run([binary, "bucket", "--remote", remote, "--metadata-groups", "1,2", "put", "chart",
                        "--groups", "1,2"], check=True, capture_output=True, timeout=60)
        hub_down = f"http://127.0.0.1:{free_port()}"
        # The default proxy: the pod's environment with local addresses; the placement hub
        # (the operator) is down, and the data path must not care.
        proc, base = start_proxy(tmp, scripts, docs, conf / "proxy.toml", binary, ports[0], "proxy", hub_down)
        procs.append(proc)
        if wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, "proxy /readyz from rendered proxy.toml"):
            req = urllib.request.Request(f"{base}/upload/chart/hello.txt", data=b"hello from the chart",
                                         method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                reply = json.loads(r.read())
            groups = sorted(reply.get("reply", {}).get("success-groups", []))
            check(groups == [1, 2], f"upload through the rendered proxy stored in groups {groups}: {reply}")
            check(http_get(f"{base}/get/chart/hello.txt") == (200, b"hello from the chart"), "get")
        # The every-feature proxy.toml ([https], extra keys and tables) through the real parser,
        # with the TLS files where the pod mounts them moved under tmp.
        text = all_docs_proxy_toml(all_docs)
        tls, www = tmp / "tls", tmp / "www"
        tls.mkdir()
        www.mkdir()
        (www / "page.html").write_text("<p>static</p>")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")],
                       check=True, capture_output=True)
        https, s3 = free_port(), free_port()
        text = (text.replace("/etc/backrunner/tls", str(tls)).replace("/srv/www", str(www))
                .replace('listen = "0.0.0.0:9443"', f'listen = "127.0.0.1:{https}"')
                .replace('listen = "0.0.0.0:9000"', f'listen = "127.0.0.1:{s3}"'))
        (conf / "proxy-all.toml").write_text(text)
        proc, base = start_proxy(tmp, scripts, all_docs, conf / "proxy-all.toml", binary, ports[0], "proxy-all", hub_down)
        procs.append(proc)
        ctx = ssl.create_default_context(cafile=str(tls / "tls.crt"))
        ctx.check_hostname = False

        def https_ping() -> int:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{https}/ping", context=ctx, timeout=5) as r:
                    return r.status
            except OSError:
                return 0
        if wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, "every-feature proxy /readyz"):
            check(wait_for(lambda: https_ping() == 200, "HTTPS /ping with the mounted certificate"), "https")
            with urllib.request.urlopen(f"{base}/ping", timeout=5) as r:
                check(r.headers.get("Access-Control-Allow-Origin") == "*", "extraHeaders on replies")
            check(http_get(f"{base}/page.html") == (200, b"<p>static</p>"), "static_root from proxy.config")
            # The S3 front of the rendered [s3]: an anonymous ListBuckets answers S3 XML.
            status, body = http_get(f"http://127.0.0.1:{s3}/")
            check(status == 200 and b"ListAllMyBucketsResult" in body, f"S3 front: {status} {body[:200]!r}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    if FAILURES:
        for f in ("node0.log", "node1.log", "proxy.log", "proxy-all.log"):
            if (tmp / f).exists():
                print(f"--- {f}\n{(tmp / f).read_text()[-3000:]}", file=sys.stderr)

def test_operator_under_chart_rbac(cp: ControlPlane, tmp: Path, docs: list[dict], binary: str) -> None:
    """The real operator, with the default scenario's rendered operator.toml, authenticated as
    the chart's ServiceAccount (a TokenRequest token), so every API call it makes is decided by
    the chart's RBAC: it must win the Lease, and write status and generated token Secrets."""
    ns = "chart-default"
    try:
        probe = subprocess.run([binary, "operator", "--config", str(tmp / "missing.toml")],
                               capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        probe = subprocess.CompletedProcess(e.cmd, 0, "", "")
    if "not available yet" in probe.stderr + probe.stdout:
        print("SKIP: operator under the chart's RBAC: `backrunner operator` is not in this build",
              file=sys.stderr)
        return
    sa = one(docs, "ServiceAccount", "operator")["metadata"]["name"]
    token = cp.kubectl("-n", ns, "create", "token", sa, "--duration=1h").stdout.strip()
    kubeconfig = tmp / "operator-kubeconfig"
    cfg = yaml.safe_load(cp.kubeconfig.read_text())
    cfg["users"][0]["user"] = {"token": token}
    cfg["contexts"][0]["context"]["namespace"] = ns
    kubeconfig.write_text(yaml.safe_dump(cfg))
    cms = {k: v for d in by_kind(docs, "ConfigMap") for k, v in d["data"].items()}
    port = free_port()
    conf = tomllib.loads(cms["operator.toml"])
    text = cms["operator.toml"].replace('listen = "0.0.0.0:8080"', f'listen = "127.0.0.1:{port}"')
    (tmp / "operator.toml").write_text(text)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), POD_NAME="operator-0", POD_NAMESPACE=ns)
    proc = subprocess.Popen([binary, "operator", "--config", str(tmp / "operator.toml")], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "operator.log", "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_get(f"{base}/healthz")[0] == 200, "operator /healthz", 60)
        lease = conf["leader_election"]["lease_name"]

        def holder() -> str:
            return cp.kubectl("-n", ns, "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}",
                              check=False).stdout.strip()
        wait_for(lambda: holder() == "operator-0", f"Lease {lease} held by operator-0", 60)
        cp.kubectl("-n", ns, "apply", "-f", str(ROOT / "examples" / "cluster.yaml"),
                   "-f", str(ROOT / "examples" / "acl-policies.yaml"))
        wait_for(lambda: cp.kubectl("-n", ns, "get", "secret", "media-team-acl-tokens",
                                    check=False).returncode == 0, "generated token Secret", 60)
        wait_for(lambda: bool(cp.kubectl("-n", ns, "get", "ellipticscluster", "local", "-o",
                                         "jsonpath={.status.conditions}", check=False).stdout.strip()),
                 "EllipticsCluster status written", 60)
        check(proc.poll() is None, "operator still running under the chart's RBAC")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = (tmp / "operator.log").read_text()
    denied = [line for line in log.splitlines() if "forbidden" in line.lower()]
    check(not denied, f"operator API calls denied by the chart's RBAC: {denied[:3]}")
    if FAILURES:
        print(f"--- operator.log\n{log[-4000:]}", file=sys.stderr)
