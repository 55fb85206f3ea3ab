"""Our PPO `vanilla` against CleanRL's unmodified ppo_atari.py: training-episode returns side by
side, same games, seeds and steps.

    python benchmarks/cleanrl_compare.py --cleanrl PATH/TO/cleanrl/cleanrl/ppo_atari.py \
        [--games RoadRunner Krull] [--seeds 1 2 3] [--steps 100000] [--window 25000] \
        [--out results/evidence/cleanrl] [--jobs 2] [--a2d-runs RUNS] [--cleanrl-from JSON]

Each (implementation, game, seed) is one 1-thread job, ``--jobs`` at a time (2 on 2 cores):

- ours: ``a2d train --game G --arch vanilla --seed S --steps N`` (CleanRL's hyperparameters are
  our defaults) into ``OUT/runs/a2d/G/seedS/``; its training episodes are the TensorBoard
  scalars ``charts/episodic_return`` of the run's ``tb/`` (one per finished game: the raw,
  unclipped full-game score, at the global step the game ended). Its test evaluations are cut to
  the least the command allows (one test game at step 0, ``--eval-episodes`` at the end): they
  are not training episodes and are not compared.
- CleanRL: ``benchmarks/cleanrl_runner.py --episodes CSV --threads 1 ppo_atari.py --env-id
  GNoFrameskip-v4 --seed S --total-timesteps N --no-cuda`` in ``OUT/runs/cleanrl/G/seedS/``
  (the runner records CleanRL's own ``RecordEpisodeStatistics`` episodes: full games, raw
  score, at CleanRL's ``global_step``; CleanRL needs ``pip install tyro opencv-python-headless``).

With ``--a2d-runs RUNS`` (a results tree's ``runs/``, e.g. ``results/evidence/runs``) ours are
not trained: the table reads the training episodes of the pipeline's own ``vanilla`` runs,
``RUNS/G/vanilla/seedS/tb/``, so the published evidence runs are the ones checked. Those runs
have test evaluations and resume checkpoints, at each of which the envs are re-seeded and
reset (docs/reliability.md); the games cut there are not training episodes of either side.

With ``--cleanrl-from FILE`` (an earlier ``comparison.json`` of this script) CleanRL's side is
not run or read from runs: its per-window rows are taken from that file, whose steps, window,
games and seeds must be these. CleanRL's runs do not depend on our code, so a comparison made
for a new set of our runs need not rerun them; the output names the file (path, SHA-256, its
command and when and where it was measured, where the file records it) under
``cleanrl_source``.

Every output records under ``measured`` the date (UTC), this repository's commit and the
machine (CPU, cores, torch, Python, OS) of the run that wrote it.

A job whose result is already there (our ``eval.json``; CleanRL's ``episodes.csv``) is not rerun.
CleanRL runs ``N // 1024`` PPO iterations and we ``ceil(N / 1024)``: for N = 100,000, 99,328 and
100,352 steps.

The table (``OUT/comparison.md`` and ``OUT/comparison.json``). Steps are cut into windows of
``--window`` steps: window k holds the episodes that ended at a global step in
``[k * W, (k + 1) * W)``, the last window also every later step (so the few steps past N of a
run's last batch fall in it); there are ``ceil(N / W)`` windows. Per run (one seed), a window's
value is the mean return of its episodes (none: no value). Per implementation, game and window:
the mean of those per-seed values over the seeds that have one, their min and max ("spread"),
and the number of episodes.

The verdict, per game, on the last window: let ``ours`` be our mean over seeds and
``[lo, hi]`` CleanRL's min and max over seeds (the reference's range across seeds). ``inside``
when ``lo <= ours <= hi``; ``above`` when ``ours > hi``; ``below`` when ``ours < lo``;
``no data`` when either side has no seed with an episode in that window. With 3 seeds a side
this is a coarse check (the range of 3 runs), not a test of equality.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "benchmarks" / "cleanrl_runner.py"
IMPLS = ("a2d", "cleanrl")
LABELS = {"a2d": "a2d `vanilla`", "cleanrl": "CleanRL ppo_atari.py"}

Episodes = list[tuple[int, float]]  # (global step the episode ended at, its return)


# ---------------------------------------------------------------- reading the runs' episodes
def read_cleanrl_episodes(path: str | Path) -> Episodes:
    """The runner's CSV (global_step, episodic_return, episodic_length)."""
    with Path(path).open(newline="") as f:
        return [(int(r["global_step"]), float(r["episodic_return"])) for r in csv.DictReader(f)]


def read_a2d_episodes(run_dir: str | Path) -> Episodes:
    """``charts/episodic_return`` of a run's ``tb/`` (every event file; each step once)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = Path(run_dir) / "tb"
    if not tb.is_dir():
        raise FileNotFoundError(f"{tb}: no TensorBoard directory")
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0})
    acc.Reload()
    if "charts/episodic_return" not in acc.Tags().get("scalars", []):
        return []
    return [(int(e.step), float(e.value)) for e in acc.Scalars("charts/episodic_return")]


# ---------------------------------------------------------------- the table and the verdict
def n_windows(steps: int, window: int) -> int:
    return max(1, math.ceil(steps / window))


def window_means(episodes: Episodes, steps: int, window: int) -> list[tuple[float | None, int]]:
    """(mean return, episodes) per window of one run; the last window takes every later step."""
    k = n_windows(steps, window)
    sums, counts = [0.0] * k, [0] * k
    for step, ret in episodes:
        i = min(step // window, k - 1)
        sums[i] += ret
        counts[i] += 1
    return [(s / c if c else None, c) for s, c in zip(sums, counts, strict=True)]


def summarize(runs: dict[int, Episodes], steps: int, window: int) -> list[dict]:
    """Per window over the seeds of one implementation and game: the per-seed means, their mean,
    min, max, and the episodes counted."""
    per_seed = {seed: window_means(eps, steps, window) for seed, eps in runs.items()}
    rows = []
    for i in range(n_windows(steps, window)):
        vals = {s: per_seed[s][i][0] for s in sorted(per_seed)}
        have = [v for v in vals.values() if v is not None]
        rows.append(
            {
                "start": i * window,
                "end": (i + 1) * window if i < n_windows(steps, window) - 1 else None,
                "seed_means": {str(s): v for s, v in vals.items()},
                "mean": sum(have) / len(have) if have else None,
                "min": min(have) if have else None,
                "max": max(have) if have else None,
                "seeds": len(have),
                "episodes": sum(per_seed[s][i][1] for s in per_seed),
            }
        )
    return rows


def verdict(ours: dict, ref: dict) -> dict:
    """Our last-window mean against the reference's [min, max] over seeds (module docstring)."""
    mean, lo, hi = ours["mean"], ref["min"], ref["max"]
    if mean is None or lo is None:
        v = "no data"
    elif mean > hi:
        v = "above"
    elif mean < lo:
        v = "below"
    else:
        v = "inside"
    return {"verdict": v, "ours": mean, "ref_min": lo, "ref_max": hi}


def compare(episodes: dict, steps: int, window: int, cleanrl_rows: dict | None = None) -> dict:
    """``episodes[impl][game][seed]`` -> the comparison: per game, each implementation's windows
    and the verdict on the last one. ``cleanrl_rows[game]``: CleanRL's windows as they are (from
    an earlier comparison, ``--cleanrl-from``) instead of ``episodes["cleanrl"]``."""
    games = {}
    for game in episodes["a2d"]:
        rows = {
            "a2d": summarize(episodes["a2d"][game], steps, window),
            "cleanrl": cleanrl_rows[game]
            if cleanrl_rows is not None
            else summarize(episodes["cleanrl"][game], steps, window),
        }
        games[game] = {**rows, "verdict": verdict(rows["a2d"][-1], rows["cleanrl"][-1])}
    return {"steps": steps, "window": window, "games": games}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _step_label(step: int) -> str:
    return f"{step // 1000}k" if step and step % 1000 == 0 else f"{step:,}"


def _window_label(row: dict) -> str:
    a = _step_label(row["start"])
    return f"{a}-{_step_label(row['end'])}" if row["end"] is not None else f"{a}-end"


def render_markdown(res: dict, seeds: list[int]) -> str:
    """The table: one row per game and implementation, one column per window: mean over seeds
    [min, max] (episodes); then the verdict per game."""
    games = res["games"]
    first = next(iter(games.values()))["a2d"]
    heads = [_window_label(r) for r in first]
    lines = [
        f"Training-episode return (raw full-game score) per {res['window']:,}-step window: mean "
        f"over seeds {', '.join(map(str, seeds))} of each seed's mean, [min, max] over seeds, "
        f"(episodes); {res['steps']:,} steps per run.",
        "",
        "| game | implementation | " + " | ".join(heads) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in heads) + " |",
    ]
    for game, g in games.items():
        for impl in IMPLS:
            cells = [
                f"{_fmt(r['mean'])} [{_fmt(r['min'])}, {_fmt(r['max'])}] ({r['episodes']})"
                for r in g[impl]
            ]
            lines.append(f"| {game} | {LABELS[impl]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Verdict (last window): our mean over seeds inside / above / below CleanRL's range "
        "[min, max] over seeds.",
        "",
        "| game | ours | CleanRL range | verdict |",
        "| --- | ---: | ---: | --- |",
    ]
    for game, g in games.items():
        v = g["verdict"]
        rng = f"[{_fmt(v['ref_min'])}, {_fmt(v['ref_max'])}]"
        lines.append(f"| {game} | {_fmt(v['ours'])} | {rng} | {v['verdict']} |")
    src = res.get("cleanrl_source")
    if src:
        lines += [
            "",
            f"CleanRL's side is read from an earlier comparison, `{src['file']}` (SHA-256 "
            f"{src['sha256'][:12]}), not rerun: command `{src['command']}`; measured: "
            f"{_measured_label(src['measured'])}.",
        ]
    m = res.get("measured")
    if m:
        lines += ["", f"This table: {_measured_label(m)}."]
    return "\n".join(lines) + "\n"


def _measured_label(m) -> str:
    """``measured`` as one line: date, commit, machine (or the text the source has instead)."""
    if not isinstance(m, dict):
        return str(m)
    mc = m.get("machine", {})
    where = f"{mc.get('cpu', '?')}, {mc.get('cores', '?')} cores, torch {mc.get('torch', '?')}"
    return f"{m.get('date', '?')}, commit {m.get('commit', '?')}, {where}"


def measured() -> dict:
    """When, at which commit and on which machine this output was written."""
    from datetime import datetime, timezone

    from a2d.results.evidence_docs import commit, machine

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(ROOT),
        "machine": machine(),
    }


def load_cleanrl_rows(path: str | Path, games, seeds, steps: int, window: int) -> tuple:
    """CleanRL's rows per game from an earlier comparison.json, and its ``cleanrl_source``;
    ``ValueError`` (one line) when it is not one or does not match these games, seeds and steps."""
    import hashlib

    p = Path(path)
    try:
        raw = p.read_bytes()
        src = json.loads(raw)
    except (OSError, ValueError) as e:
        raise ValueError(f"{p}: not a readable comparison.json ({e})") from None
    if not isinstance(src, dict) or not isinstance(src.get("games"), dict):
        raise ValueError(f"{p}: not a comparison.json (no 'games')")
    for key, want in (("steps", steps), ("window", window), ("seeds", list(seeds))):
        if src.get(key) != want:
            raise ValueError(f"{p}: its {key} is {src.get(key)!r}, this comparison's {want!r}")
    missing = [g for g in games if "cleanrl" not in src["games"].get(g, {})]
    if missing:
        have = ", ".join(sorted(src["games"])) or "none"
        raise ValueError(f"{p}: no CleanRL rows for {missing[0]} (games there: {have})")
    rows = {g: src["games"][g]["cleanrl"] for g in games}
    source = {
        "file": str(p),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "command": src.get("command", "not recorded"),
        "measured": src.get("measured", "not recorded in that file"),
    }
    return rows, source


# ---------------------------------------------------------------- running the jobs
def _one_thread_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def a2d_job(game: str, seed: int, steps: int, out: Path, eval_episodes: int) -> list[str] | None:
    """The `a2d train` command of our run (None: finished already)."""
    run = out / "runs" / "a2d" / game / f"seed{seed}"
    if (run / "eval.json").is_file():
        return None
    return [
        sys.executable, "-m", "a2d.cli", "train", "--game", game, "--arch", "vanilla",
        "--seed", str(seed), "--steps", str(steps), "--out", str(run),
        "--set", "torch_threads=1", "--set", "env.num_threads=1",
        "--set", f"eval.interval={10 * steps}", "--set", "eval.curve_episodes=1",
        "--set", f"eval.episodes={eval_episodes}", "--device", "cpu",
    ]  # fmt: skip


def cleanrl_job(game: str, seed: int, steps: int, out: Path, script: str) -> list[str] | None:
    """The runner command of CleanRL's run (None: finished already); it writes episodes.csv
    once the run has ended."""
    run = out / "runs" / "cleanrl" / game / f"seed{seed}"
    if (run / "episodes.csv").is_file():
        return None
    # absolute: the runner runs in the run's folder (CleanRL writes runs/ where it starts)
    return [
        sys.executable, str(RUNNER), "--episodes", str((run / "episodes.part.csv").resolve()),
        "--threads", "1", str(Path(script).resolve()), "--env-id", f"{game}NoFrameskip-v4",
        "--seed", str(seed), "--total-timesteps", str(steps), "--no-cuda",
    ]  # fmt: skip


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    cwd.mkdir(parents=True, exist_ok=True)
    print(" ".join(cmd), flush=True)
    with log.open("w") as f:
        p = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=_one_thread_env())
    if p.returncode != 0:
        raise SystemExit(f"failed (exit {p.returncode}): {' '.join(cmd)}; see {log}")


def a2d_run_dir(out: Path, game: str, seed: int, a2d_runs: str | Path | None = None) -> Path:
    """Our run's folder: trained by this script under ``out``, or the pipeline's ``vanilla``
    run in the results tree's ``runs/`` (``--a2d-runs``)."""
    if a2d_runs is not None:
        return Path(a2d_runs) / game / "vanilla" / f"seed{seed}"
    return out / "runs" / "a2d" / game / f"seed{seed}"


def run_jobs(a, out: Path) -> None:
    todo = []
    for game in a.games:
        for seed in a.seeds:
            cmd = None if a.a2d_runs else a2d_job(game, seed, a.steps, out, a.eval_episodes)
            if cmd:
                logs = out / "logs" / "a2d" / game
                todo.append((cmd, ROOT, logs / f"seed{seed}.log", None))
            cmd = None if a.cleanrl_from else cleanrl_job(game, seed, a.steps, out, a.cleanrl)
            if cmd:
                run = out / "runs" / "cleanrl" / game / f"seed{seed}"
                todo.append((cmd, run, run / "stdout.log", run))

    def job(item):
        cmd, cwd, log, cleanrl_run = item
        log.parent.mkdir(parents=True, exist_ok=True)
        _run(cmd, cwd, log)
        if cleanrl_run is not None:  # CleanRL's episodes count once its run has finished
            (cleanrl_run / "episodes.part.csv").replace(cleanrl_run / "episodes.csv")

    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for f in [pool.submit(job, item) for item in todo]:
            f.result()


def collect(
    out: Path, games: list[str], seeds: list[int], a2d_runs=None, cleanrl: bool = True
) -> dict:
    eps: dict = {impl: {} for impl in IMPLS}
    for game in games:
        eps["a2d"][game] = {
            s: read_a2d_episodes(a2d_run_dir(out, game, s, a2d_runs)) for s in seeds
        }
        if not cleanrl:  # CleanRL's rows come from an earlier comparison (--cleanrl-from)
            continue
        eps["cleanrl"][game] = {
            s: read_cleanrl_episodes(out / "runs" / "cleanrl" / game / f"seed{s}" / "episodes.csv")
            for s in seeds
        }
    return eps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", nargs="+", default=["RoadRunner", "Krull"])  # the evidence games
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=100_000, help="env steps per run")
    ap.add_argument("--window", type=int, default=25_000, help="steps per table column")
    ap.add_argument("--out", default="results/evidence/cleanrl")
    ap.add_argument("--cleanrl", help="CleanRL's cleanrl/ppo_atari.py (to run CleanRL)")
    ap.add_argument(
        "--cleanrl-from",
        help="CleanRL's side from this earlier comparison.json instead of runs (see above)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time, 1 thread each")
    ap.add_argument("--eval-episodes", type=int, default=8, help="our run's final test games")
    ap.add_argument("--table-only", action="store_true", help="only read the runs in --out")
    ap.add_argument(
        "--a2d-runs",
        help="do not train ours: read the pipeline's runs in this results tree's runs/ "
        "(GAME/vanilla/seedS), e.g. results/evidence/runs",
    )
    a = ap.parse_args(argv)
    if a.steps < 1 or a.window < 1 or a.jobs < 1:
        ap.error("--steps, --window and --jobs must be >= 1")
    if a.a2d_runs and not Path(a.a2d_runs).is_dir():
        ap.error(f"--a2d-runs {a.a2d_runs}: no such folder (a results tree's runs/)")
    out = Path(a.out)
    cleanrl_rows = source = None
    if a.cleanrl_from:
        try:
            cleanrl_rows, source = load_cleanrl_rows(
                a.cleanrl_from, a.games, a.seeds, a.steps, a.window
            )
        except ValueError as e:
            ap.error(f"--cleanrl-from {e}")
    if not a.table_only:
        if not a.cleanrl_from and not (a.cleanrl and Path(a.cleanrl).is_file()):
            ap.error(f"--cleanrl {a.cleanrl}: no such file (CleanRL's ppo_atari.py)")
        run_jobs(a, out)
    if a.a2d_runs:
        missing = [
            str(d / "eval.json")
            for g in a.games
            for sd in a.seeds
            if not (d := a2d_run_dir(out, g, sd, a.a2d_runs)).joinpath("eval.json").is_file()
        ]
        if missing:
            ap.error(f"--a2d-runs {a.a2d_runs}: no finished run, {missing[0]} is missing")
    eps = collect(out, a.games, a.seeds, a.a2d_runs, cleanrl=cleanrl_rows is None)
    res = compare(eps, a.steps, a.window, cleanrl_rows)
    if source is not None:
        res["cleanrl_source"] = source
    res.update(
        measured=measured(),
        seeds=a.seeds,
        command="python benchmarks/cleanrl_compare.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        definitions=__doc__.split("The table", 1)[1].strip(),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "comparison.md").write_text(render_markdown(res, a.seeds))
    print((out / "comparison.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
