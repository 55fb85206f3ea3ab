"""a2d.results.config_dump: the merged config written as YAML for the report."""

from __future__ import annotations

import json
import os

import yaml

from a2d.results import config_dump


def test_config_round_trips_through_the_yaml(tmp_path, capsys):
    cfg = {"results": "results/smoke", "games": ["Breakout"], "ppo": {"learning_rate": 2.5e-4}}
    out = tmp_path / "r" / "config.yaml"
    config_dump.main(["--json", json.dumps(cfg), "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# The merged configuration these results were built with")
    assert yaml.safe_load(text) == cfg
    assert list(yaml.safe_load(text)) == list(cfg)  # key order kept
    assert capsys.readouterr().out == f"{out}\n"
    assert os.listdir(out.parent) == ["config.yaml"]  # no temp files left
