"""Write the merged config a results tree was built with (config.yaml + presets + --config) as
YAML, for the report and for anyone reading the results later."""

from __future__ import annotations

import argparse
import json

import yaml

from a2d.checkpoint import atomic_write_text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="the config as one JSON document")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    cfg = json.loads(a.json)
    text = (
        "# The merged configuration these results were built with (written by the workflow).\n"
        + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=100)
    )
    atomic_write_text(a.out, text)
    print(a.out)


if __name__ == "__main__":
    main()
