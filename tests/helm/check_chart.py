"""Lints and renders helm/terrace with Helm 4 (the `helm-python-sdk` package, offline) and
validates each rendered object against Kubernetes' own schemas (`kubernetes-validate`).

    python3 check_chart.py CHART_DIR < request.json > report.json

request: {"name": release, "namespace": ns, "kube_versions": ["1.30", ...],
          "good": {case: values}, "bad": {case: values}, "schemaless": {case: values},
          "yaml_files": [path, ...]}
report:  {"helm": version,
          "lint": {case: lint report},
          "rendered": {case: [{"template": path, "object": document}, ...]},
          "invalid": {case: ["VERSION KIND/NAME: error", ...]},
          "rejected": {case: error message, or null when Helm accepted the values},
          "schemaless": {case: the same, rendered without values.schema.json: what the
                         templates themselves refuse (`helm install --skip-schema-validation`)},
          "notes": {case: NOTES.txt as rendered},
          "yaml_files": {path: [document, ...]}}   # other manifests, parsed

It only reports: the Rust test (tests/tests/helm_chart.rs) decides what must hold.
"""

import json
import os
import shutil
import sys
import tempfile

import helm_python as helm
import kubernetes_validate
import yaml


def render(chart, values, request):
    out = chart.render(values, name=request["name"], namespace=request["namespace"], is_install=True)
    notes = next((text for path, text in out.items() if path.endswith("/NOTES.txt")), None)
    objects = []
    for path, text in sorted(out.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                objects.append({"template": path, "object": document})
    return objects, notes


def validate(objects, versions):
    errors = []
    for item in objects:
        obj = item["object"]
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                errors.append(f"{version} {obj['kind']}/{obj['metadata'].get('name')}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                errors.append(f"{version} {obj['kind']}: no schema: {e}")
    return errors


def main():
    chart_dir = sys.argv[1]
    request = json.load(sys.stdin)
    report = {"helm": helm.helm_sdk_version(), "lint": {}, "rendered": {}, "invalid": {}, "rejected": {},
              "notes": {}, "yaml_files": {}}
    for path in request.get("yaml_files", []):
        with open(path) as f:
            report["yaml_files"][path] = [d for d in yaml.safe_load_all(f) if d]
    with helm.Chart.load(chart_dir) as chart:
        for case, values in request["good"].items():
            report["lint"][case] = helm.lint(chart_dir, values, strict=True, kube_version="v1.31.0",
                                             namespace=request["namespace"])
            objects, report["notes"][case] = render(chart, values, request)
            report["invalid"][case] = validate(objects, request["kube_versions"])
            report["rendered"][case] = objects
        for case, values in request["bad"].items():
            try:
                render(chart, values, request)
                report["rejected"][case] = None
            except helm.HelmError as e:
                report["rejected"][case] = str(e)
    schemaless = request.get("schemaless", {})
    if schemaless:
        report["schemaless"] = {}
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(os.path.normpath(chart_dir)))
            shutil.copytree(chart_dir, copy)
            os.remove(os.path.join(copy, "values.schema.json"))
            with helm.Chart.load(copy) as chart:
                for case, values in schemaless.items():
                    try:
                        render(chart, values, request)
                        report["schemaless"][case] = None
                    except helm.HelmError as e:
                        report["schemaless"][case] = str(e)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
