"""Chart checks that need no apiserver: the chart's CRDs equal the generated ones, the
examples use only fields the CRD schemas declare, every value is documented in the chart
README, and `helm lint` passes for each scenario's values."""

from __future__ import annotations

import asyncio
import filecmp
import shutil
from pathlib import Path

import helm_sdkpy as helm
import yaml

from chart_support import CHART, ROOT, check, merge

def chart_with_values(tmp: Path, name: str, values: dict) -> Path:
    """A copy of the chart whose values.yaml holds the merged values (lint reads only that)."""
    dest = tmp / f"lint-{name}" / "backrunner"
    shutil.copytree(CHART, dest)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    (dest / "values.yaml").write_text(yaml.safe_dump(merge(defaults, values)))
    return dest

def lint(cfg: helm.Configuration, path: Path) -> dict:
    return asyncio.run(helm.Lint(cfg).run(str(path)))

def test_crds_in_sync() -> None:
    generated = sorted(p.name for p in (ROOT / "crds" / "yaml").glob("*.yaml"))
    copied = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    check(generated == copied and len(generated) == 3, f"chart crds/ {copied} != crds/yaml {generated}")
    for name in generated:
        same = filecmp.cmp(ROOT / "crds" / "yaml" / name, CHART / "crds" / name, shallow=False)
        check(same, f"charts/backrunner/crds/{name} differs from crds/yaml/{name} (copy it again)")

def leaf_paths(values: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in values.items():
        path = f"{prefix}{k}"
        out += leaf_paths(v, path + ".") if isinstance(v, dict) and v else [path]
    return out

def test_values_documented() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaf_paths(values):
        parts = path.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        check(any(f"`{p}`" in readme for p in prefixes), f"value {path} not documented in the chart README")

def test_lint(tmp: Path, scenarios: dict[str, dict]) -> None:
    cfg = helm.Configuration()
    for name, values in scenarios.items():
        result = lint(cfg, chart_with_values(tmp, name, values))
        errors = result.get("Errors") or []
        bad = [m for m in result.get("Messages") or [] if m.get("Severity", 0) >= 2]
        check(not errors and not bad, f"lint {name}: errors {errors} messages {bad}")
    # `fail` in a template only logs under lint (Helm's lint mode): invalid values are
    # checked by installing them (check_invalid_values).

def unknown_fields(obj, schema: dict, path: str) -> list[str]:
    """Paths of fields that the CRD's structural schema does not declare (the apiserver would
    prune them silently: a typo in an example would go unnoticed)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out = []
    if isinstance(obj, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for k, v in obj.items():
            if props is not None and k in props:
                out += unknown_fields(v, props[k], f"{path}.{k}")
            elif isinstance(extra, dict):
                out += unknown_fields(v, extra, f"{path}.{k}")
            elif props is not None or extra is None:
                out.append(f"{path}.{k}")
    elif isinstance(obj, list) and "items" in schema:
        for i, v in enumerate(obj):
            out += unknown_fields(v, schema["items"], f"{path}[{i}]")
    return out

def test_examples_match_crds() -> None:
    schemas = {}
    for f in (ROOT / "crds" / "yaml").glob("*.yaml"):
        crd = yaml.safe_load(f.read_text())
        for v in crd["spec"]["versions"]:
            schemas[(f"{crd['spec']['group']}/{v['name']}", crd["spec"]["names"]["kind"])] = \
                v["schema"]["openAPIV3Schema"]
    kinds = []
    for f in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc:
                continue
            key = (doc["apiVersion"], doc["kind"])
            kinds.append(doc["kind"])
            if key in schemas:
                spec_only = {"spec": doc["spec"]}
                bad = unknown_fields(spec_only, schemas[key], f"{f.name}:{doc['metadata']['name']}")
                check(not bad, f"example fields unknown to the CRD: {bad}")
    check(sorted(kinds) == sorted(["EllipticsCluster", "AclPolicy", "AclPolicy", "Secret",
                                   "Bucket", "Bucket", "Bucket"]), f"examples hold {kinds}")
