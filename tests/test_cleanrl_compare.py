"""benchmarks/cleanrl_compare.py: the windows, the table and the verdict on fixture curves, and
the runner's episode recording on a fake vector env (the runs themselves are not unit-tested)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cmp():
    return _load("cleanrl_compare")


def test_window_means_assign_episodes_by_their_end_step(cmp):
    # 100k steps, 25k windows: 4 windows; step 25,000 opens the second; 100,352 (past N, our last
    # batch) falls in the last
    eps = [(10, 1.0), (24_999, 3.0), (25_000, 10.0), (80_000, 5.0), (100_352, 7.0)]
    assert cmp.window_means(eps, 100_000, 25_000) == [(2.0, 2), (10.0, 1), (None, 0), (6.0, 2)]
    heads = [cmp._window_label(r) for r in cmp.summarize({1: eps}, 100_000, 25_000)]
    assert heads == ["0-25k", "25k-50k", "50k-75k", "75k-end"]
    assert cmp.n_windows(99_328, 25_000) == 4 and cmp.n_windows(100_001, 25_000) == 5


def test_summarize_over_seeds_skips_seeds_without_episodes(cmp):
    runs = {1: [(1, 0.0), (30, 4.0)], 2: [(2, 2.0), (31, 8.0), (32, 10.0)], 3: [(3, 6.0)]}
    rows = cmp.summarize(runs, 40, 20)
    first, last = rows
    assert first["seed_means"] == {"1": 0.0, "2": 2.0, "3": 6.0}
    assert (first["mean"], first["min"], first["max"], first["episodes"]) == (8 / 3, 0.0, 6.0, 3)
    # seed 3 has no episode in [20, end): the mean is over seeds 1 (4) and 2 (9)
    assert last["seed_means"]["3"] is None and last["seeds"] == 2
    assert (last["mean"], last["min"], last["max"], last["episodes"]) == (6.5, 4.0, 9.0, 3)
    assert (last["start"], last["end"]) == (20, None)


@pytest.mark.parametrize(
    "ours, expected",
    [(5.0, "inside"), (4.0, "inside"), (9.0, "inside"), (9.5, "above"), (3.9, "below")],
)
def test_verdict_against_the_reference_range(cmp, ours, expected):
    v = cmp.verdict({"mean": ours}, {"min": 4.0, "max": 9.0})
    assert v == {"verdict": expected, "ours": ours, "ref_min": 4.0, "ref_max": 9.0}


def test_verdict_without_data(cmp):
    assert cmp.verdict({"mean": None}, {"min": 1.0, "max": 2.0})["verdict"] == "no data"
    assert cmp.verdict({"mean": 1.0}, {"min": None, "max": None})["verdict"] == "no data"


def test_compare_and_markdown_on_fixture_curves(cmp):
    # RoadRunner: ours ends at 1,500 / 2,000 / 2,500 (mean 2,000), CleanRL 1,000 .. 1,800: above.
    # Boxing: ours 3, CleanRL 2 .. 5: inside.
    eps = {
        "a2d": {
            "RoadRunner": {1: [(10, 100.0), (90, 1500.0)], 2: [(90, 2000.0)], 3: [(95, 2500.0)]},
            "Boxing": {1: [(60, 3.0)], 2: [(70, 2.0), (80, 4.0)], 3: [(75, 3.0)]},
        },
        "cleanrl": {
            "RoadRunner": {1: [(80, 1000.0)], 2: [(85, 1800.0)], 3: [(99, 1200.0)]},
            "Boxing": {1: [(60, 2.0)], 2: [(61, 5.0)], 3: [(10, -9.0), (62, 4.0)]},
        },
    }
    res = cmp.compare(eps, 100, 50)
    assert res["games"]["RoadRunner"]["verdict"]["verdict"] == "above"
    assert res["games"]["RoadRunner"]["verdict"]["ours"] == 2000.0
    assert res["games"]["Boxing"]["verdict"] == {
        "verdict": "inside", "ours": 3.0, "ref_min": 2.0, "ref_max": 5.0,
    }  # fmt: skip
    md = cmp.render_markdown(res, [1, 2, 3])
    assert "| game | implementation | 0-50 | 50-end |" in md
    assert (
        "| RoadRunner | a2d `vanilla` | 100.0 [100.0, 100.0] (1) | 2,000.0 [1,500.0, 2,500.0] (3) |"
        in md
    )
    assert "| Boxing | CleanRL ppo_atari.py | -9.0 [-9.0, -9.0] (1) | 3.7 [2.0, 5.0] (3) |" in md
    assert "| RoadRunner | 2,000.0 | [1,000.0, 1,800.0] | above |" in md
    assert "| Boxing | 3.0 | [2.0, 5.0] | inside |" in md


def test_reads_cleanrl_csv_and_our_tensorboard_episodes(cmp, tmp_path):
    p = tmp_path / "episodes.csv"
    p.write_text("global_step,episodic_return,episodic_length\n544,0.0,297\n2960,100.0,1100\n")
    assert cmp.read_cleanrl_episodes(p) == [(544, 0.0), (2960, 100.0)]
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "run" / "tb"))
    for step, ret in [(8, 10.0), (1024, 250.0)]:
        w.add_scalar("charts/episodic_return", ret, step)
    w.add_scalar("charts/test_mean", 99.0, 0)  # a test evaluation: not a training episode
    w.close()
    assert cmp.read_a2d_episodes(tmp_path / "run") == [(8, 10.0), (1024, 250.0)]


def test_runner_records_the_episodes_of_the_vector_env(tmp_path):
    """The runner's SyncVectorEnv subclass writes one row per finished game at CleanRL's
    global_step (vector steps x envs), with the inner RecordEpisodeStatistics' return."""
    import gymnasium as gym

    runner = _load("cleanrl_runner")
    path = tmp_path / "ep.csv"
    cls = runner.episode_logging_vector_env(path)

    def make(n):
        def thunk():
            env = gym.make("CartPole-v1")
            env = gym.wrappers.TimeLimit(env.unwrapped, max_episode_steps=n)
            return gym.wrappers.RecordEpisodeStatistics(env)

        return thunk

    envs = cls([make(3), make(5)])  # episodes of 3 and 5 steps (reward 1 a step)
    envs.reset(seed=1)
    for _ in range(6):
        envs.step(envs.action_space.sample())
    envs.close()
    with path.open(newline="") as f:
        rows = [(int(r["global_step"]), float(r["episodic_return"])) for r in csv.DictReader(f)]
    # env 0 ends at vector step 3 (global 6); env 1 at step 5 (global 10); under gymnasium 1.x's
    # next-step autoreset env 0 resets at step 4 and its second game has 2 steps by step 6
    assert rows == [(6, 3.0), (10, 5.0)]


def test_cleanrl_job_writes_its_episodes_where_the_table_reads_them(cmp, tmp_path, monkeypatch):
    """The runner runs in the run's folder: a relative --out (the default) must still name the
    episodes file by an absolute path, or it lands in a copy of the path below the run."""
    monkeypatch.chdir(tmp_path)
    cmd = cmp.cleanrl_job("Boxing", 2, 4096, Path("results/evidence/cleanrl"), "ppo_atari.py")
    episodes = Path(cmd[cmd.index("--episodes") + 1])
    run = tmp_path / "results" / "evidence" / "cleanrl" / "runs" / "cleanrl" / "Boxing" / "seed2"
    assert episodes.is_absolute() and episodes == run / "episodes.part.csv"


def _fixture_runs(tmp_path):
    """A results tree's runs/ with our vanilla Krull run (seed 1) and CleanRL's episodes."""
    from torch.utils.tensorboard import SummaryWriter

    runs, out = tmp_path / "evidence" / "runs", tmp_path / "cleanrl"
    w = SummaryWriter(str(runs / "Krull" / "vanilla" / "seed1" / "tb"))
    for step, ret in [(10, 1500.0), (60, 3000.0), (90, 3400.0)]:
        w.add_scalar("charts/episodic_return", ret, step)
    w.close()
    (runs / "Krull" / "vanilla" / "seed1" / "eval.json").write_text("{}")  # a finished run
    ep = out / "runs" / "cleanrl" / "Krull" / "seed1" / "episodes.csv"
    ep.parent.mkdir(parents=True)
    ep.write_text("global_step,episodic_return,episodic_length\n20,1000.0,900\n70,3600.0,900\n")
    return runs, out


def test_a2d_runs_reads_the_pipelines_vanilla_runs_and_trains_none(cmp, tmp_path, monkeypatch):
    """--a2d-runs: ours are the results tree's GAME/vanilla/seedS runs; no run of ours starts
    (CleanRL's finished run is not rerun either)."""
    runs, out = _fixture_runs(tmp_path)
    started = []
    monkeypatch.setattr(cmp, "_run", lambda cmd, cwd, log: started.append(cmd))
    script = tmp_path / "ppo_atari.py"
    script.write_text("")
    args = ["--games", "Krull", "--seeds", "1", "--steps", "100", "--window", "50"]
    args += ["--out", str(out), "--cleanrl", str(script), "--a2d-runs", str(runs)]
    assert cmp.main(args) == 0
    assert started == []
    res = json.loads((out / "comparison.json").read_text())
    last = res["games"]["Krull"]["verdict"]
    # ours: the episodes at 60 and 90 (3,200); CleanRL's one at 70 (3,600): below its range
    assert last["ours"] == 3200.0 and last["verdict"] == "below"
    assert not (out / "runs" / "a2d").exists()


def test_a2d_runs_without_a_run_fails_in_one_line_naming_it(cmp, tmp_path, capsys):
    runs, out = _fixture_runs(tmp_path)
    args = ["--games", "Krull", "--seeds", "1", "2", "--out", str(out), "--cleanrl", "x"]
    with pytest.raises(SystemExit):
        cmp.main([*args, "--a2d-runs", str(runs), "--table-only"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no finished run, " in err and err.endswith("Krull/vanilla/seed2/eval.json is missing")
    assert not (out / "comparison.json").exists()


def test_cleanrl_from_an_earlier_comparison_runs_and_reads_no_cleanrl(cmp, tmp_path, monkeypatch):
    """--cleanrl-from: CleanRL's rows are the earlier comparison's, as they are; ours are read
    anew; the output names its source and when, where and at which commit it was written."""
    runs, out = _fixture_runs(tmp_path)
    args = ["--games", "Krull", "--seeds", "1", "--steps", "100", "--window", "50"]
    args += ["--out", str(out), "--a2d-runs", str(runs), "--table-only"]
    assert cmp.main([*args, "--cleanrl", "x"]) == 0
    first = out / "comparison.json"
    earlier = tmp_path / "earlier.json"
    doc = json.loads(first.read_text())
    doc["games"]["Krull"]["cleanrl"][-1].update(min=3100.0, max=3300.0)  # a range ours is inside
    earlier.write_text(json.dumps(doc))
    # CleanRL's runs are gone: nothing of CleanRL is read or run (no --cleanrl, no --table-only)
    (out / "runs" / "cleanrl" / "Krull" / "seed1" / "episodes.csv").unlink()
    started = []
    monkeypatch.setattr(cmp, "_run", lambda cmd, cwd, log: started.append(cmd))
    args.remove("--table-only")
    assert cmp.main([*args, "--cleanrl-from", str(earlier)]) == 0
    assert started == []
    res = json.loads(first.read_text())
    assert res["games"]["Krull"]["cleanrl"] == doc["games"]["Krull"]["cleanrl"]
    assert res["games"]["Krull"]["verdict"] == {
        "verdict": "inside", "ours": 3200.0, "ref_min": 3100.0, "ref_max": 3300.0,
    }  # fmt: skip
    src = res["cleanrl_source"]
    assert src["file"] == str(earlier) and len(src["sha256"]) == 64
    assert src["command"].startswith("python benchmarks/cleanrl_compare.py ")
    assert src["measured"] == doc["measured"]  # the earlier file's own date, commit, machine
    assert {"date", "commit", "machine"} <= set(res["measured"])
    md = (out / "comparison.md").read_text()
    assert f"read from an earlier comparison, `{earlier}`" in md
    assert "This table: " in md and " cores, torch " in md


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 200}, "its steps is 200, this comparison's 100"),
        ({"seeds": [1, 2, 3]}, "its seeds is [1, 2, 3], this comparison's [1]"),
        ({"games": {"Boxing": {"cleanrl": []}}}, "no CleanRL rows for Krull (games there: Boxing)"),
    ],
)
def test_cleanrl_from_a_file_that_does_not_match_fails_in_one_line(
    cmp, tmp_path, capsys, change, message
):
    runs, out = _fixture_runs(tmp_path)
    earlier = tmp_path / "earlier.json"
    base = {"steps": 100, "window": 50, "seeds": [1], "games": {"Krull": {"cleanrl": []}}}
    earlier.write_text(json.dumps({**base, **change}))
    args = ["--games", "Krull", "--seeds", "1", "--steps", "100", "--window", "50"]
    args += ["--out", str(out), "--a2d-runs", str(runs), "--cleanrl-from", str(earlier)]
    with pytest.raises(SystemExit):
        cmp.main(args)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(message) and str(earlier) in err
    assert not (out / "comparison.json").exists()
