#!/usr/bin/env python3
"""Tests of the Helm chart charts/backrunner, with a real Helm (helm-sdkpy, Helm as a library)
and a real kube-apiserver + etcd (binaries from e2e/setup.sh), and the real `backrunner`
binary. No step is simulated:

1. the chart's crds/ are byte-identical to crds/yaml/ (the generated CRDs), examples/ use
   only declared CRD fields, every value is documented in the chart README;
2. `helm lint` of every scenario's values (default, every feature on, external storage with a
   namespaced operator, ci/e2e-values.yaml) passes without warnings;
3. each scenario is `helm install`ed into the apiserver (which validates every object), its
   release manifest is read back and checked: hardened security contexts on every pod,
   probes, 2 operator replicas, Lease RBAC, no wildcard RBAC, API versions the server has;
   invalid values are refused; the operator's ServiceAccount is checked with
   `kubectl auth can-i` (real RBAC decisions);
4. the real operator runs as that ServiceAccount with the rendered operator.toml (skipped,
   saying so, while `backrunner operator` is not in the build);
5. the rendered start scripts and configuration files run the real binary: two storage nodes
   (groups 1 and 2) and a proxy come up from the chart's files, and an upload through the
   proxy lands in both groups.

Harness in chart_support.py, apiserver-free checks in chart_static.py.
Usage: charts/test.sh (installs helm-sdkpy, finds the binaries). Environment:
BACKRUNNER_BIN (the binary), E2E_BIN (dir with kube-apiserver), ETCD (etcd binary),
CHART_TEST_DUMP (a directory: write each scenario's rendered manifest there),
CHART_TEST_VERBOSE (print why invalid values were refused), CHART_TEST_KEEP (a new directory
for the logs and files of the run, kept afterwards).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import helm_sdkpy as helm
import yaml

import chart_support
from chart_runtime import test_operator_under_chart_rbac, test_rendered_files_run
from chart_static import test_crds_in_sync, test_examples_match_crds, test_lint, test_values_documented
from chart_support import (CHART, FAILURES, ROOT, SERVICEMONITOR_CRD, ControlPlane, by_kind, check,
                           env_of, install, one)

ALL_FEATURES = {
    "proxy": {
        "https": {"enabled": True, "secretName": "backrunner-tls"},
        "admin": {"existingSecret": "backrunner-admin"},
        "s3": {"enabled": True, "region": "eu-west-1"},
        "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
        "podDisruptionBudget": {"enabled": True},
        "config": {"upload_quorum": 2, "max_body_size": 1073741824, "static_root": "/srv/www",
                   "placement_report_interval_secs": 2},
        "placementHub": {"cluster": "apps/local"},
        "extraHeaders": {"Access-Control-Allow-Origin": "*"},
        "contentTypes": {"mkv": "video/x-matroska"},
    },
    "node": {"enabled": True, "replicaCount": 4, "groups": 2, "authCookie": 'co"okie',
             "config": {"max_connections": 2048}},
    "serviceMonitor": {"enabled": True},
}

EXTERNAL = {
    "node": {"enabled": False},
    "proxy": {"remotes": ["10.0.0.5:1025:2", "storage.example.com:1025"]},
    "operator": {"watchNamespace": "apps"},
}

SCENARIOS = {
    "default": {},
    "all": ALL_FEATURES,
    "external": EXTERNAL,
    "e2e": yaml.safe_load((CHART / "ci" / "e2e-values.yaml").read_text()),
}
# Every other knob, in the branches the scenarios above leave out; installed and checked for
# what each knob should change.
KNOBS = {
    "fullnameOverride": "knobs",
    "image": {"digest": "sha256:" + "ab" * 32},
    "imagePullSecrets": [{"name": "regcred"}],
    "commonLabels": {"team": "storage"},
    "serviceAccount": {"create": False, "name": "preexisting"},
    "operator": {"leaderElection": {"enabled": False}, "replicaCount": 1, "priorityClassName": "high",
                 "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k", "operator": "Exists"}],
                 "affinity": {"nodeAffinity": {}}, "extraEnv": [{"name": "X", "value": "1"}]},
    "proxy": {"service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
              "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}, "placementHub": {"enabled": False},
              "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                             "whenUnsatisfiable": "ScheduleAnyway"}]},
    "node": {"persistence": {"enabled": False}, "replicaCount": 1, "podDisruptionBudget": {"enabled": False}},
}
# Only the operator: no proxy, no storage.
OPERATOR_ONLY = {"proxy": {"enabled": False}, "node": {"enabled": False}, "rbac": {"create": False}}


# Values the chart must refuse, with a fragment of its message.

INVALID = {
    "https without a Secret": ({"proxy": {"https": {"enabled": True}}}, "needs proxy.https.secretName"),
    "no storage at all": ({"node": {"enabled": False}}, "proxy.remotes is empty"),
    "reserved proxy.config key": ({"proxy": {"config": {"listen": "0.0.0.0:1"}}}, "proxy.config.listen"),
    "more groups than nodes": ({"node": {"replicaCount": 1, "groups": 2}}, "node.groups cannot exceed"),
    "a misspelt value (schema)": ({"proxy": {"replicas": 3}}, "replicas"),
    "an unknown protocol (schema)": ({"node": {"protocolVersion": "4.0"}}, "protocolVersion"),
    "a remote that is no address (schema)": ({"proxy": {"remotes": ["http://x"]}}, "remotes"),
}

def check_pods(name: str, docs: list[dict]) -> None:
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    for w in workloads:
        wid = f"{name}: {w['kind']} {w['metadata']['name']}"
        spec = w["spec"]["template"]["spec"]
        psc = spec.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{wid}: pod runAsNonRoot")
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{wid}: seccomp")
        for c in spec.get("initContainers", []) + spec["containers"]:
            cid = f"{wid} container {c['name']}"
            sc = c.get("securityContext", {})
            check(sc.get("readOnlyRootFilesystem") is True, f"{cid}: readOnlyRootFilesystem")
            check(sc.get("allowPrivilegeEscalation") is False, f"{cid}: allowPrivilegeEscalation")
            check(sc.get("runAsNonRoot") is True, f"{cid}: runAsNonRoot")
            check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cid}: drop ALL")
            check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{cid}: seccomp")
            check("livenessProbe" in c and "readinessProbe" in c, f"{cid}: probes")
            check(bool(c.get("resources", {}).get("requests")), f"{cid}: resource requests")
            if w["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] != "node":
                check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{cid}: /healthz")
                check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{cid}: /readyz")
        mounts = {m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        check("/tmp" in mounts, f"{wid}: writable /tmp under a read-only root")
        check(w["spec"]["selector"]["matchLabels"].items()
              <= w["spec"]["template"]["metadata"]["labels"].items(), f"{wid}: selector matches")

def check_rbac(name: str, ns: str, docs: list[dict], values: dict) -> None:
    for r in by_kind(docs, "Role") + by_kind(docs, "ClusterRole"):
        for rule in r["rules"]:
            check("*" not in rule.get("verbs", []) and "*" not in rule.get("resources", [])
                  and "*" not in rule.get("apiGroups", []), f"{name}: wildcard in {r['metadata']['name']}")
            if "secrets" in rule.get("resources", []):
                check("delete" not in rule["verbs"], f"{name}: operator may delete Secrets")
    lease_rules = [rule for r in by_kind(docs, "Role") if r["metadata"]["namespace"] == ns
                   for rule in r["rules"] if "leases" in rule.get("resources", [])]
    verbs = {v for rule in lease_rules for v in rule["verbs"]}
    check({"get", "create", "update"} <= verbs, f"{name}: Lease RBAC in {ns}: {verbs}")
    watch_ns = values.get("operator", {}).get("watchNamespace")
    kind = "Role" if watch_ns else "ClusterRole"
    crd_rules = [rule for r in by_kind(docs, kind) for rule in r["rules"]
                 if "backrunner.io" in rule.get("apiGroups", [])]
    check(len(crd_rules) == 3, f"{name}: {kind} with the backrunner.io rules")

def check_rbac_live(cp: ControlPlane, name: str, ns: str, docs: list[dict]) -> None:
    """Real authorization decisions of the apiserver for the operator's ServiceAccount."""
    sa = one(docs, "ServiceAccount", "operator")
    lease = next(rule["resourceNames"][0] for r in by_kind(docs, "Role")
                 for rule in r["rules"] if rule.get("resourceNames"))
    who = f"--as=system:serviceaccount:{ns}:{sa['metadata']['name']}"

    def can(*args: str) -> bool:
        return cp.kubectl("auth", "can-i", who, *args, check=False).stdout.strip() == "yes"

    for verb in ("get", "update"):
        check(can(verb, f"leases.coordination.k8s.io/{lease}", "-n", ns), f"{name}: {verb} Lease")
    check(can("create", "leases.coordination.k8s.io", "-n", ns), f"{name}: create Lease")
    check(not can("update", "leases.coordination.k8s.io/other", "-n", ns), f"{name}: other Leases")
    check(not can("get", "leases.coordination.k8s.io", "-n", "kube-system"), f"{name}: Leases elsewhere")
    for args in (("patch", "buckets.backrunner.io"), ("patch", "buckets.backrunner.io", "--subresource=status"),
                 ("watch", "aclpolicies.backrunner.io"), ("create", "secrets"), ("update", "secrets"),
                 ("create", "jobs.batch"), ("delete", "jobs.batch"), ("create", "events")):
        check(can(*args, "-n", "apps"), f"{name}: operator may {' '.join(args)}")
    check(can("get", "namespaces/apps"), f"{name}: operator may read a namespace's labels")
    check(not can("list", "namespaces"), f"{name}: operator must not list namespaces")
    for args in (("delete", "secrets"), ("delete", "buckets.backrunner.io"),
                 ("create", "pods"), ("create", "rolebindings.rbac.authorization.k8s.io")):
        check(not can(*args, "-n", "apps"), f"{name}: operator must not {' '.join(args)}")

def check_invalid_values(cp: ControlPlane) -> None:
    for i, (name, (values, message)) in enumerate(INVALID.items()):
        cfg = helm.Configuration(namespace="chart-invalid", kubeconfig=str(cp.kubeconfig))
        try:
            asyncio.run(helm.Install(cfg).run(f"invalid-{i}", str(CHART), values=values,
                                              create_namespace=True, wait=False, timeout=60))
            refused = ""
        except helm.HelmError as e:
            refused = str(e)
        check(message in refused, f"invalid values ({name}) not refused as expected: {refused!r}")
        if os.environ.get("CHART_TEST_VERBOSE"):
            print(f"refused {name}: {refused.splitlines()[:2]}", file=sys.stderr)

def check_knobs(cp: ControlPlane) -> None:
    ns, _, docs = install(cp, "knobs", KNOBS)
    check_pods("knobs", docs)
    check(all(d["metadata"]["name"].startswith("knobs") for d in docs if d["kind"] != "ClusterRole"
              and d["kind"] != "ClusterRoleBinding"), "knobs: fullnameOverride")
    check(all(d["metadata"]["labels"].get("team") == "storage" for d in docs), "knobs: commonLabels")
    check(not by_kind(docs, "ServiceAccount"), "knobs: no ServiceAccount created")
    check(not [r for r in by_kind(docs, "Role") if "leader" in r["metadata"]["name"]], "knobs: no Lease Role")
    op = one(docs, "Deployment", "operator")["spec"]["template"]["spec"]
    check(op["serviceAccountName"] == "preexisting" and op["priorityClassName"] == "high"
          and op["nodeSelector"] == {"disk": "ssd"} and op["affinity"] == {"nodeAffinity": {}}
          and op["imagePullSecrets"] == [{"name": "regcred"}], f"knobs: operator pod {op}")
    check(op["containers"][0]["image"] == "backrunner@sha256:" + "ab" * 32, "knobs: image digest")
    check(not by_kind(docs, "PodDisruptionBudget")[1:] and by_kind(docs, "PodDisruptionBudget")[0]["spec"]
          == {"maxUnavailable": 1, "selector": {"matchLabels": one(docs, "Deployment", "proxy")["spec"]
                                                 ["selector"]["matchLabels"]}}, "knobs: one PDB, the proxy's")
    svc = one(docs, "Service", "proxy")["spec"]
    check(svc["type"] == "LoadBalancer" and svc["externalTrafficPolicy"] == "Local", "knobs: proxy Service")
    cfg = tomllib.loads(next(d["data"]["proxy.toml"] for d in by_kind(docs, "ConfigMap") if "proxy.toml" in d["data"]))
    check("placement_hub" not in cfg, "knobs: placement hub off")
    op_cfg = tomllib.loads(next(d["data"]["operator.toml"] for d in by_kind(docs, "ConfigMap")
                                if "operator.toml" in d["data"]))
    check(op_cfg["leader_election"]["enabled"] is False, "knobs: leader election off")
    sts = one(docs, "StatefulSet", "node")["spec"]
    check("volumeClaimTemplates" not in sts and any(v["name"] == "data" and "emptyDir" in v
                                                    for v in sts["template"]["spec"]["volumes"]),
          "knobs: node data on emptyDir")
    ns, _, docs = install(cp, "operator-only", OPERATOR_ONLY)
    check_pods("operator-only", docs)
    check(sorted({d["kind"] for d in docs}) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service",
                                                "ServiceAccount"], f"operator-only: {[d['kind'] for d in docs]}")


def check_scenario(cp: ControlPlane, name: str, values: dict) -> list[dict]:
    ns, release, docs = install(cp, name, values)
    if os.environ.get("CHART_TEST_DUMP"):
        dump = Path(os.environ["CHART_TEST_DUMP"])
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    check(all({"apiVersion", "kind", "metadata"} <= d.keys() for d in docs), f"{name}: objects")
    check_pods(name, docs)
    operator = one(docs, "Deployment", "operator")
    proxy = one(docs, "Deployment", "proxy")
    sts = one(docs, "StatefulSet", "node")
    e2e = name == "e2e"
    check(operator is not None and operator["spec"]["replicas"] == (0 if e2e else 2),
          f"{name}: operator replicas")
    if operator:
        c = operator["spec"]["template"]["spec"]["containers"][0]
        check(c["args"][:1] == ["operator"], f"{name}: operator subcommand")
        check({"POD_NAME", "POD_NAMESPACE", "POD_IP"} <= env_of(c).keys(), f"{name}: operator pod env")
    check(one(docs, "Service", "operator") is not None, f"{name}: operator Service")
    check_rbac(name, ns, docs, values)
    if name == "default":
        check_rbac_live(cp, name, ns, docs)
    cms = {d["metadata"]["name"]: d["data"] for d in by_kind(docs, "ConfigMap")}
    op_cfg = tomllib.loads(next(d["operator.toml"] for d in cms.values() if "operator.toml" in d))
    check(op_cfg["leader_election"]["enabled"] is True, f"{name}: leader election on")
    proxy_toml = next(d["proxy.toml"] for d in cms.values() if "proxy.toml" in d)
    proxy_cfg = tomllib.loads(proxy_toml)
    check(proxy is not None, f"{name}: proxy Deployment")
    proxy_env = env_of(proxy["spec"]["template"]["spec"]["containers"][0])
    op_svc = one(docs, "Service", "operator")
    want = f"http://{op_svc['metadata']['name']}.{ns}.svc:{op_svc['spec']['ports'][0]['port']}"
    hub = proxy_cfg.get("placement_hub")
    check(hub == want, f"{name}: placement hub {hub} != the operator Service {want}")
    remotes = proxy_env["BACKRUNNER_STORAGE_REMOTES"]
    if values.get("node", {}).get("enabled", True):
        svc = one(docs, "Service", "node")
        check(sts is not None and svc is not None and svc["spec"]["clusterIP"] == "None",
              f"{name}: node StatefulSet + headless Service")
        check(remotes.startswith(f"{svc['metadata']['name']}.{ns}.svc:"), f"{name}: proxy remotes {remotes}")
        check(bool(sts["spec"].get("volumeClaimTemplates")), f"{name}: node PVCs")
    else:
        check(sts is None, f"{name}: no StatefulSet")
        check(remotes == ",".join(values["proxy"]["remotes"]), f"{name}: proxy remotes {remotes}")
    if name == "all":
        hpa = by_kind(docs, "HorizontalPodAutoscaler")
        want = "autoscaling/v2" if cp.has_api("autoscaling/v2") else "autoscaling/v2beta2"
        check(len(hpa) == 1 and hpa[0]["apiVersion"] == want, f"{name}: HPA {want}")
        check("replicas" not in proxy["spec"], f"{name}: HPA owns proxy replicas")
        pdbs = by_kind(docs, "PodDisruptionBudget")
        want = "policy/v1" if cp.has_api("policy/v1") else "policy/v1beta1"
        check(len(pdbs) == 3 and all(p["apiVersion"] == want for p in pdbs), f"{name}: PDBs {want}")
        check(len(by_kind(docs, "ServiceMonitor")) == 2, f"{name}: ServiceMonitors")
        ports = {p["name"] for p in one(docs, "Service", "proxy")["spec"]["ports"]}
        check(ports == {"http", "https", "s3"}, f"{name}: proxy Service ports {ports}")
        container_ports = {p["name"]: p["containerPort"]
                           for p in proxy["spec"]["template"]["spec"]["containers"][0]["ports"]}
        check(container_ports.get("s3") == 9000
              and proxy_cfg["s3"] == {"listen": "0.0.0.0:9000", "region": "eu-west-1"},
              f"{name}: S3 front {container_ports} {proxy_cfg.get('s3')}")
        vols = proxy["spec"]["template"]["spec"]["volumes"]
        check(any(v.get("secret", {}).get("secretName") == "backrunner-tls" for v in vols),
              f"{name}: TLS Secret volume")
        check(proxy_cfg["https"]["cert"] == "/etc/backrunner/tls/tls.crt"
              and proxy_cfg["upload_quorum"] == 2 and proxy_cfg["max_body_size"] == 1073741824
              and proxy_cfg["extra_headers"] == {"Access-Control-Allow-Origin": "*"},
              f"{name}: proxy.toml {proxy_cfg}")
        admin_env = env_of(proxy["spec"]["template"]["spec"]["containers"][0])
        check(admin_env.get("BACKRUNNER_ADMIN_USER") == {"secretKeyRef": {"name": "backrunner-admin", "key": "user"}}
              and admin_env.get("BACKRUNNER_ADMIN_TOKEN")
              == {"secretKeyRef": {"name": "backrunner-admin", "key": "token"}},
              f"{name}: bootstrap admin from the Secret {admin_env}")
        check(sts["spec"]["replicas"] == 4 and env_of(sts["spec"]["template"]["spec"]["containers"][0])
              ["NODE_GROUPS"] == "2", f"{name}: 4 nodes over 2 groups")
    else:
        check(not by_kind(docs, "HorizontalPodAutoscaler") and not by_kind(docs, "ServiceMonitor"),
              f"{name}: optional objects off by default")
    if name == "external":
        check(not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding"),
              f"{name}: namespaced operator has no cluster-wide RBAC")
        check(op_cfg["watch_namespace"] == "apps", f"{name}: watch namespace")
    return docs

def main() -> int:
    binary = os.environ.get("BACKRUNNER_BIN", str(ROOT / "target" / "debug" / "backrunner"))
    bin_dir = Path(os.environ["E2E_BIN"])
    etcd = os.environ.get("ETCD", shutil.which("etcd") or "etcd")
    keep = os.environ.get("CHART_TEST_KEEP")
    with tempfile.TemporaryDirectory(prefix="chart-test-") as t:
        tmp = Path(keep or t)
        tmp.mkdir(parents=True, exist_ok=True)
        test_crds_in_sync()
        test_examples_match_crds()
        test_values_documented()
        test_lint(tmp, SCENARIOS)
        (tmp / "cp").mkdir()
        cp = ControlPlane(tmp / "cp", bin_dir, etcd)
        try:
            cp.kubectl("apply", "-f", "-", stdin=SERVICEMONITOR_CRD)
            cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                       "crd/servicemonitors.monitoring.coreos.com")
            # The namespace a namespaced operator watches exists before the install.
            cp.kubectl("create", "namespace", "apps")
            check_invalid_values(cp)
            check_knobs(cp)
            rendered = {name: check_scenario(cp, name, values) for name, values in SCENARIOS.items()}
            crds = cp.kubectl("get", "crd", "-o", "name").stdout.split()
            for c in ("ellipticsclusters", "buckets", "aclpolicies"):
                check(f"customresourcedefinition.apiextensions.k8s.io/{c}.backrunner.io" in crds,
                      f"CRD {c} installed from the chart's crds/")
            examples = cp.kubectl("apply", "--dry-run=server", "-n", "chart-default",
                                  "-f", str(ROOT / "examples"), check=False)
            check(examples.returncode == 0, f"examples/ accepted by the apiserver: {examples.stderr}")
            test_operator_under_chart_rbac(cp, tmp, rendered["default"], binary)
        finally:
            cp.stop()
        test_rendered_files_run(tmp, rendered["default"], rendered["all"], binary)
    print(f"charts: {chart_support.PASSED} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

