#!/usr/bin/env python3
"""Lints and installs the Backrunner Helm chart into the e2e apiserver with a real Helm.

Helm comes as a library (pip install --ignore-requires-python helm-sdkpy). The release is
installed without waiting: the harness has no kubelet, so Deployments never become ready;
the operator and proxies run as processes instead. Prints one JSON line per step.
"""
import argparse
import asyncio
import json
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--release", required=True)
    p.add_argument("--chart", required=True)
    p.add_argument("--values-json", help="file with the chart values as JSON")
    a = p.parse_args()
    try:
        import helm_sdkpy as helm
    except ImportError as e:
        print(json.dumps({"step": "import", "error": str(e)}))
        return 3
    cfg = helm.Configuration(namespace=a.namespace, kubeconfig=a.kubeconfig)
    lint = asyncio.run(helm.Lint(cfg).run(a.chart))
    print(json.dumps({"step": "lint", "result": lint}))
    # Helm's severities: 1 info, 2 warning, 3 error.
    if lint.get("Errors") or any(m.get("Severity", 0) >= 3 for m in lint.get("Messages") or []):
        print(json.dumps({"step": "lint", "error": "helm lint reported errors"}))
        return 2
    values = None
    if a.values_json:
        with open(a.values_json, encoding="utf-8") as f:
            values = json.load(f)
    try:
        result = asyncio.run(
            helm.Install(cfg).run(
                a.release,
                a.chart,
                values=values,
                create_namespace=True,
                wait=False,
                timeout=120,
            )
        )
    except helm.HelmError as e:
        print(json.dumps({"step": "install", "error": str(e)}))
        return 1
    summary = {k: v for k, v in result.items() if k not in ("manifest", "chart", "config")}
    print(json.dumps({"step": "install", "result": summary}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
