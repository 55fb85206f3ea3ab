"""Property: whatever argv a user types, ``a2d.cli.main`` ends with exit 0 or 2, never a
traceback, a bad-input error is one line, and a finished run folder it is pointed at is left
byte for byte as it was.

Generated argv cover every subcommand with numbers at and beyond their bounds, wrong types, odd
paths (an existing file, a missing or unwritable folder, a finished run folder) and malformed
JSON, YAML and torch files. The heavy work (PPO, search, evaluation, play, export, derive) is
replaced by a stub that raises: reaching it means every input check passed, and it keeps the
test fast; what the CLI does before it is real.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import finished_run, folder_digest

from a2d import A2DError
from a2d.cli import SEED_MAX, main
from a2d.models import build
from a2d.models.agent_file import agent_payload, save_agent


class WorkReached(A2DError):
    """Raised by the stubs of the heavy work: every check before it passed."""


STATS = {"invocations": 0, "exit_0": 0, "exit_2": 0, "work_reached": 0}

HEAVY = [
    ("a2d.rl.ppo", "train"),
    ("a2d.search.run", "run_search"),
    ("a2d.search.run", "derive"),
    ("a2d.rl.evaluate", "evaluate"),
    ("a2d.rl.evaluate", "evaluate_random"),
    ("a2d.play", "play_run"),
    ("a2d.export", "export_run"),
]


def _stub(*_a, **_k):
    STATS["work_reached"] += 1
    raise WorkReached("the heavy work was reached")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished run, a run with a malformed eval.json, malformed inputs and odd paths."""
    import os

    root = tmp_path_factory.mktemp("world")
    run = finished_run(root / "done")
    net = build("vanilla", 4)
    good = agent_payload(net, net.spec, 4, "none", "Breakout", 1, 0)
    files = {
        "neg.pt": {**good, "n_actions": -1},
        "zero.pt": {**good, "n_actions": 0},
        "bool.pt": {**good, "n_actions": True},
        "strspec.pt": {**good, "spec": "vanilla"},
        "nogame.pt": {**good, "game": "NotAGame"},
        "intgame.pt": {**good, "game": 7},
        "badnorm.pt": {**good, "norm": "layer"},
        "badsd.pt": {**good, "state_dict": [1, 2]},
        "oldformat.pt": {**good, "format": "a2d-agent-v0"},
        "noformat.pt": {"spec": net.spec},
        "pong.pt": {**good, "game": "Pong"},  # wrong game for a Breakout teacher
    }
    for name, payload in files.items():
        save_agent(root / name, payload)
    buf = io.BytesIO()
    torch.save([1, 2, 3], buf)
    (root / "list.pt").write_bytes(buf.getvalue())
    (root / "trunc.pt").write_bytes((run / "agent.pt").read_bytes()[:200])
    (root / "junk.pt").write_bytes(b"\x80\x04junk not a pickle")
    (root / "empty.pt").write_bytes(b"")
    texts = {
        "list.json": "[]",
        "null.json": "null",
        "obj.json": "{}",
        "agentint.json": '{"agent": 3}',
        "agentdir.json": json.dumps({"agent": str(root)}),
        "agentmissing.json": json.dumps({"agent": str(root / "missing.pt")}),
        "teacher.json": json.dumps({"agent": str(run / "agent.pt")}),
        "broken.json": '{"arch": ',
        "dup.yaml": "ppo:\n  num_envs: 4\n  num_envs: 8\n",
        "list.yaml": "- 1\n- 2\n",
        "bad.yaml": "ppo: [1, 2\n",
        "float.yaml": "ppo:\n  num_envs: 2.0\n",
        "ok.yaml": "eval:\n  episodes: 3\n",
        "empty.yaml": "",
        "afile": "a file, not a folder",
    }
    for name, text in texts.items():
        (root / name).write_text(text)
    (root / "latin1.json").write_bytes(b'{"arch": "caf\xe9"}')
    (root / "latin1.yaml").write_bytes(b"ppo:\n  caf\xe9: 1\n")
    (root / "adir.json").mkdir()
    for name, ev in (("badrun", "[]"), ("strseed", None), ("noeval", None)):
        d = root / name
        d.mkdir()
        save_agent(d / "agent.pt", good)
        if name == "badrun":
            (d / "eval.json").write_text(ev)
        elif name == "strseed":
            e = json.loads((run / "eval.json").read_text())
            (d / "eval.json").write_text(json.dumps({**e, "seed": "one"}))
    (root / "scratch").mkdir()
    if os.geteuid() != 0:
        ro = root / "readonly"
        ro.mkdir()
        ro.chmod(0o500)
    elif Path("/proc/1").is_dir() and not os.access("/proc/1", os.W_OK):
        ro = Path("/proc/1")
    else:
        ro = root / "afile"  # no unwritable folder for root here: a file among the parents
    return {"root": root, "run": run, "ro": ro}


INTS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([SEED_MAX - 1, SEED_MAX, SEED_MAX + 1, 2**32, 2**63, 2**70, -(2**70)]),
).map(str)
ODD_NUMBERS = st.sampled_from(["1.0", "1e3", "abc", "", "0x10", " 2", "-0", "1_000", "٣", "nan"])
NUMBERS = st.one_of(INTS, ODD_NUMBERS)

AGENTS = [
    "{run}/agent.pt",
    "{run}",
    "{root}/neg.pt",
    "{root}/zero.pt",
    "{root}/bool.pt",
    "{root}/strspec.pt",
    "{root}/nogame.pt",
    "{root}/intgame.pt",
    "{root}/badnorm.pt",
    "{root}/badsd.pt",
    "{root}/oldformat.pt",
    "{root}/noformat.pt",
    "{root}/list.pt",
    "{root}/trunc.pt",
    "{root}/junk.pt",
    "{root}/empty.pt",
    "{root}/list.json",
    "{root}/missing.pt",
    "{root}/adir.json",
    "{root}/afile",
]
TEACHERS = [
    *AGENTS,
    "{root}/pong.pt",
    "{root}/null.json",
    "{root}/obj.json",
    "{root}/agentint.json",
    "{root}/agentdir.json",
    "{root}/agentmissing.json",
    "{root}/teacher.json",
    "{root}/broken.json",
    "{root}/latin1.json",
]
RUNS = ["{run}", "{root}/badrun", "{root}/strseed", "{root}/noeval", "{root}/afile", "{root}/nope"]
FILE_OUTS = [
    "{root}/scratch/out.json",
    "{root}/afile",
    "{root}/afile/x.json",
    "{root}/nope/deeper/x.json",
    "{run}",
    "{run}/eval.json",
    "{run}/agent.pt",
    "{run}/sub/x.json",
    "{ro}/x.json",
]
DIR_OUTS = ["{root}/scratch/run", "{root}/afile", "{root}/afile/sub", "{run}", "{ro}/run"]
ARCHS = ["vanilla", "resnet8", "resnet9", "resnot", "supernet", "{root}/adir.json", "{root}/"]
ARCHS += ["{root}/latin1.json", "{root}/broken.json", "{root}/list.json", "{root}/missing.json"]
CONFIGS = ["dup.yaml", "list.yaml", "bad.yaml", "float.yaml", "ok.yaml", "empty.yaml"]
CONFIGS = [f"{{root}}/{c}" for c in [*CONFIGS, "latin1.yaml", "missing.yaml", "adir.json"]]
SETS = [
    "ppo.num_envs=1.0",
    "ppo.num_envs=0",
    "ppo.num_envs=2",
    "ppo.num_envs=true",
    "ppo.gamma=2",
    "ppo.gamma=.nan",
    "ppo.num_minibatches=3",
    "eval.episodes=1.5",
    "bogus=1",
    "ppo.bogus=1",
    "ppo.num_envs",
    "ppo={a: 1, a: 2}",
    "ppo=[1",
    "ppo=3",
    "device=tpu",
    "search.macs_band=[2, 1]",
    "env.async_groups=3",
]
GAMES = ["Breakout", "breakout", "ALE/Pong-v5", "Breakoutt", "NotAGame", "", "Pong"]
METHODS = ["a2d_one_level", "vanilla_dnas", "a2d_bi_level", "nope"]


def opt(flag: str, values) -> st.SearchStrategy[list[str]]:
    """``[flag, value]`` or nothing."""
    vals = values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
    return st.one_of(st.just([]), vals.map(lambda v: [flag, v]))


def cfg_opts() -> st.SearchStrategy[list[str]]:
    sets = st.lists(st.sampled_from(SETS), max_size=2).map(
        lambda xs: [a for x in xs for a in ("--set", x)]
    )
    return st.tuples(opt("--config", CONFIGS), sets, opt("--device", ["cpu", "gpu"])).map(
        lambda t: [a for part in t for a in part]
    )


def command(name: str, *parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda t: [name, *(a for part in t for a in part)])


def req(flag: str, values) -> st.SearchStrategy[list[str]]:
    """``[flag, value]``, now and then left out (argparse's own error)."""
    vals = values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
    return st.one_of(vals.map(lambda v: [flag, v]), st.just([]))


argvs = st.one_of(
    command(
        "train",
        req("--game", GAMES),
        req("--arch", ARCHS),
        opt("--seed", NUMBERS),
        opt("--steps", NUMBERS),
        opt("--num-envs", NUMBERS),
        opt("--teacher", TEACHERS),
        req("--out", DIR_OUTS),
        cfg_opts(),
    ),
    command(
        "search",
        req("--game", GAMES),
        req("--method", METHODS),
        opt("--teacher", TEACHERS),
        opt("--seed", NUMBERS),
        opt("--steps", NUMBERS),
        req("--out", DIR_OUTS),
        cfg_opts(),
    ),
    command("derive", req("--search", [*AGENTS, "{root}/scratch"]), req("--out", FILE_OUTS)),
    command(
        "evaluate",
        req("--agent", AGENTS),
        opt("--episodes", NUMBERS),
        opt("--seed", NUMBERS),
        opt("--out", FILE_OUTS),
        cfg_opts(),
    ),
    command(
        "random",
        req("--game", GAMES),
        opt("--episodes", NUMBERS),
        opt("--seed", NUMBERS),
        req("--out", FILE_OUTS),
        cfg_opts(),
    ),
    command("teacher", req("--run", RUNS), req("--out", FILE_OUTS)),
    command("info", st.lists(st.sampled_from(ARCHS), max_size=3)),
    command(
        "export",
        req("--run", [*RUNS, *AGENTS]),
        req("--format", ["onnx", "torchscript", "gif"]),
        opt("--out", FILE_OUTS),
        opt("--observations", NUMBERS),
        opt("--threads", NUMBERS),
    ),
    command(
        "play",
        req("--run", [*RUNS, *AGENTS]),
        opt("--episodes", NUMBERS),
        opt("--seed", NUMBERS),
        opt("--scale", NUMBERS),
        opt("--video", ["{root}/scratch/v.mp4", "{root}/scratch/v.avi", "{run}", "{ro}/v.mp4"]),
        opt("--out", FILE_OUTS),
        cfg_opts(),
    ),
    st.sampled_from([["games"], ["nosuch"], [], ["--help"], ["train", "--help"], ["info"]]),
)


@settings(
    max_examples=200,
    derandomize=True,  # the same 200 invocations in every CI run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=argvs)
def test_any_argv_ends_in_exit_0_or_2_without_touching_a_finished_run(world, monkeypatch, argv):
    import importlib

    for module, fn in HEAVY:
        monkeypatch.setattr(importlib.import_module(module), fn, _stub)
    root, run = world["root"], world["run"]
    subst = {"{root}": str(root), "{run}": str(run), "{ro}": str(world["ro"])}
    for key, value in subst.items():
        argv = [a.replace(key, value) for a in argv]
    guarded = [run, root / "badrun", root / "strseed", root / "noeval"]
    before = {p: folder_digest(p) for p in guarded}
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)  # an exception escaping here fails the property
    STATS["invocations"] += 1
    STATS[f"exit_{rc}"] = STATS.get(f"exit_{rc}", 0) + 1
    text = err.getvalue()
    assert rc in (0, 2), (argv, rc, text)
    assert "Traceback" not in text, (argv, text)
    if rc == 2:
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("a2d: error: "), (argv, text)
    assert {p: folder_digest(p) for p in guarded} == before, argv


def test_report_invocations():
    """How many argv the property drove through main (run after it; -s shows the line)."""
    print(f"\ncli property: {STATS}")
    if STATS["invocations"]:
        assert STATS["invocations"] >= 100
