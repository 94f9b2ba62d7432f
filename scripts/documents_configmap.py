"""Writes the ConfigMap that holds a fleet's optimizer documents for the controller
(deploy/kubernetes/documents.yaml is this script's output for samples/large; tests/test_deploy.py
checks that it is current). The controller mounts it at /etc/inferno/documents.

Usage: python scripts/documents_configmap.py DIR [--namespace NS] [--name NAME] > documents.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCUMENTS = ("accelerator-data.json", "capacity-data.json", "model-data.json", "optimizer-data.json",
             "server-data.json", "serviceclass-data.json")


def configmap(directory: Path, namespace: str = "llm", name: str = "inferno-documents") -> str:
    """The ConfigMap as YAML: one key per document found in ``directory``, each checked as JSON."""
    import yaml
    data = {}
    for filename in DOCUMENTS:
        path = directory / filename
        if path.exists():
            text = path.read_text(encoding="utf-8")
            json.loads(text)  # a malformed document fails here, not in the cluster
            data[filename] = text
    if not data:
        raise SystemExit(f"documents_configmap: none of {', '.join(DOCUMENTS)} in {directory}")
    header = (f"# The optimizer's documents of {directory.name}/ for the controller (made by "
              "scripts/documents_configmap.py; do not edit by hand).\n")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}

    class Dumper(yaml.SafeDumper):
        pass

    def text_block(dumper: yaml.SafeDumper, value: str) -> yaml.Node:  # the documents as readable blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text_block)
    return header + yaml.dump(body, Dumper=Dumper, sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--namespace", default="llm")
    parser.add_argument("--name", default="inferno-documents")
    args = parser.parse_args()
    sys.stdout.write(configmap(args.directory, args.namespace, args.name))


if __name__ == "__main__":
    main()
