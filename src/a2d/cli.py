"""Command line: ``a2d train | search | derive | evaluate | random | teacher | info | export | play |
games | cost-table``.

Every option of a run is settable from YAML (``--config``, repeatable, merged in order as
Snakemake merges config.yaml and a preset), from ``--set section.key=value`` and, for the common
ones, from flags. Errors in the user's input are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

import a2d
from a2d import A2DError
from a2d.yamlio import StrictLoader, yaml_problem

#: Largest seed: ale-py seeds each emulator with a 32-bit signed integer (env i of a run gets
#: ``seed + i``, see ``_check_env_seeds``); numpy's legacy seeding needs < 2**32 too.
SEED_MAX = 2**31 - 1

_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise A2DError(f"--set expects section.key=value, got {item!r}")
        key, val = item.split("=", 1)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise A2DError(
                    f"--set {item!r}: {part!r} was already set to a value, not a section"
                )
        try:
            value = yaml.load(val, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
            if isinstance(value, str) and _FLOAT_RE.match(value):  # YAML 1.1 reads 1e-3 as text
                value = float(value)
            node[parts[-1]] = value
        except yaml.YAMLError as e:
            raise A2DError(f"--set {item!r}: value is not valid YAML ({yaml_problem(e)})") from None
    return out


def _int_arg(what: str, lo: int, hi: int | None = None):
    """An argparse ``type=``: a decimal integer in [lo, hi] (no upper bound when ``hi`` is None)."""
    valid = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be {valid}, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{what} must be {valid}, got {value}")
        return value

    parse.__name__ = what
    return parse


seed_arg = _int_arg("--seed", 0, SEED_MAX)


def _check_out(path: str | Path, kind: str, flag: str = "--out") -> Path:
    """Refuse, before any work, an output path that cannot be written: ``kind`` "dir" (a run
    folder) or "file"; an existing entry of the other kind, a file among its parents, or a
    parent folder that is not writable."""
    p = Path(path)
    if p.exists() or p.is_symlink():
        if kind == "dir" and not p.is_dir():
            raise A2DError(f"{flag} {path} is an existing file, not a folder; give a folder")
        if kind == "file" and p.is_dir():
            raise A2DError(f"{flag} {path} is an existing folder, not a file; give a file name")
    parent = p if kind == "dir" else p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise A2DError(f"{flag} {path}: {parent} is a file, so no folder can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise A2DError(f"{flag} {path}: {parent} is not writable")
    return p


def _check_env_seeds(seed: int, num_envs: int) -> None:
    """Env i of a run is seeded ``seed + i``: the last one must still be a 32-bit signed int."""
    if seed + num_envs - 1 > SEED_MAX:
        raise A2DError(
            f"--seed {seed} with ppo.num_envs {num_envs}: the envs' seeds seed..seed+num_envs-1 "
            f"must stay <= {SEED_MAX}; give a seed <= {SEED_MAX - num_envs + 1}"
        )


def _check_arch(arch: str) -> None:
    """An arch given as a path must be a readable UTF-8 file (the builder reads and checks it)."""
    from a2d.models.builder import ARCHS

    if arch in ARCHS or not (arch.endswith(".json") or "/" in arch):
        return
    p = Path(arch)
    if p.is_dir():
        raise A2DError(f"arch file {arch} is a folder, not an arch.json file")
    if p.exists():
        try:
            p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise A2DError(f"arch file {arch} is not UTF-8 text (byte {e.start})") from None
        except OSError as e:
            raise A2DError(f"arch file {arch} cannot be read: {e.strerror}") from None


def _check_agent(path: str | Path, what: str = "agent file") -> dict[str, Any]:
    """Load and check an agent.pt before any work (``load_agent`` checks its fields and that its
    net rebuilds with its weights). Returns the checkpoint."""
    from a2d.models.agent_file import load_agent

    p = Path(path)
    if p.is_dir():
        raise A2DError(f"{what} {path} is a folder, not an agent.pt")
    return load_agent(p, "cpu")[1]


def _check_teacher(teacher: str, game: str) -> None:
    """The teacher (run folder, agent.pt or teacher file) exists, is a sound agent.pt (of the
    digest its teacher file records) and was trained on ``game``."""
    from a2d.teacher_file import load_teacher

    load_teacher(teacher, game, "cpu")


def _load_cfg(args) -> dict[str, Any]:
    from a2d import config

    overrides: dict[str, Any] = {}
    if getattr(args, "config_json", None):
        try:
            cfg_json = json.loads(args.config_json)
        except json.JSONDecodeError as e:
            raise A2DError(f"--config-json is not valid JSON: {e}") from None
        if not isinstance(cfg_json, dict):
            raise A2DError("--config-json must be a JSON object")
        overrides = config.deep_merge(overrides, cfg_json)
    overrides = config.deep_merge(overrides, _parse_set(args.set or []))
    flags = {
        ("ppo", "total_steps"): getattr(args, "steps", None),
        ("ppo", "num_envs"): getattr(args, "num_envs", None),
        ("search", "steps"): getattr(args, "search_steps", None),
        ("device",): getattr(args, "device", None),
    }
    for path, val in flags.items():
        if val is not None:
            node = overrides
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = val
    return config.load(args.config or [], overrides)


def _claim_gpu(device: str) -> None:
    """One GPU per job on a multi-GPU box (a2d.gpus); before anything starts CUDA."""
    from a2d.gpus import claim_for_job

    claim_for_job(device, log=lambda s: print(s, flush=True))


def cmd_train(args) -> None:
    from a2d import config
    from a2d.envs import canonical
    from a2d.models import get_spec
    from a2d.rl.ppo import train

    # every input is checked before the PPO loop, which clears a stale eval.json in --out
    cfg = _load_cfg(args)
    tc = config.train_config(cfg)
    game = canonical(args.game)  # refuse unknown games before any work
    _check_arch(args.arch)
    spec = get_spec(args.arch)
    _check_env_seeds(args.seed, tc.ppo.num_envs)
    distil = bool(args.teacher) and (tc.distill.actor > 0 or tc.distill.critic > 0)
    if distil:
        _check_teacher(args.teacher, game)
    _check_out(args.out, "dir")
    _claim_gpu(tc.device)
    device = config.resolve_device(tc.device)
    hooks = []
    if distil:
        from a2d.search.distill import DistillHook
        from a2d.teacher_file import load_teacher

        hooks.append(
            DistillHook(
                load_teacher(args.teacher, game, device), tc.distill.actor, tc.distill.critic
            )
        )
    train(
        game,
        spec,
        args.seed,
        args.out,
        tc,
        hooks=hooks,
        log=lambda s: print(s, flush=True),
        force=args.force,
    )


def cmd_search(args) -> None:
    from a2d import config
    from a2d.envs import canonical
    from a2d.search.run import run_search

    cfg = _load_cfg(args)
    tc = config.train_config(cfg)
    game = canonical(args.game)
    m = config.method(cfg, args.method)
    _check_env_seeds(args.seed, tc.ppo.num_envs)
    if m.optimisation == "bi_level":  # its held-out split must leave both parts a minibatch
        from a2d.rl.ppo import held_out_size

        held_out_size(tc.search.bilevel_alpha_share, tc.ppo.batch_size, tc.ppo.num_minibatches)
    if m.actor > 0 or m.critic > 0:
        if not args.teacher:
            raise A2DError(f"method {args.method} distils from a teacher: give --teacher")
        _check_teacher(args.teacher, game)  # refuse a missing or unsound teacher before any work
    elif args.teacher:
        from a2d.teacher_file import teacher_agent_path

        teacher_agent_path(args.teacher)
    from a2d.search.run import load_search_cost_table

    load_search_cost_table(args.cost_table, tc)  # refuse a missing or mismatched table now
    _check_out(args.out, "dir")
    _claim_gpu(tc.device)
    config.resolve_device(tc.device)
    run_search(
        game,
        args.method,
        m,
        args.teacher,
        args.seed,
        args.out,
        tc,
        log=lambda s: print(s, flush=True),
        force=args.force,
        cost_table=args.cost_table,
    )


def cmd_cost_table(args) -> None:
    """The measured per-cell latency table of the search's supernet (search.cost: latency)."""
    from a2d import config
    from a2d.models.cost_table import build_cost_table, check_target, write_cost_table
    from a2d.search.run import search_spec

    check_target(args.target)  # one line naming the valid targets, before any work
    tc = config.train_config(_load_cfg(args))
    out = _check_out(args.out or f"cost-{args.target}.json", "file")
    if args.target == "cuda":
        _claim_gpu("cuda")
    table = build_cost_table(
        search_spec(tc),
        args.target,
        norm=tc.model.norm,
        ref_arch=tc.search.macs_ref_arch,
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
        statistic=args.statistic,
        log=lambda s: print(s, flush=True),
    )
    write_cost_table(out, table)
    print(
        f"wrote {out}: {len(table['cells'])} cells x {len(table['choices'])} ops on "
        f"{args.target}, fixed part {table['fixed_ms']:.3f} ms, "
        f"{table['reference']['arch']} {table['reference']['ms']:.3f} ms"
    )


def cmd_derive(args) -> None:
    from a2d.search.run import derive

    src = Path(args.search)
    _check_out(args.out, "file")
    arch = derive(src / "supernet.pt" if src.is_dir() else src, args.out, args.name)
    print(json.dumps({k: arch[k] for k in ("arch", "ops", "macs", "params")}))


def cmd_evaluate(args) -> None:
    from a2d import config
    from a2d.models.agent_file import load_agent
    from a2d.rl.evaluate import eval_seed, evaluate

    tc = config.train_config(_load_cfg(args))
    _check_agent(args.agent)
    if args.out:
        _check_out(args.out, "file")
    device = config.resolve_device(tc.device)
    agent, ckpt = load_agent(args.agent, device)
    res = evaluate(
        agent,
        ckpt["game"],
        args.episodes or tc.eval.episodes,
        tc.eval,
        tc.env,
        eval_seed(args.seed, 2**20),
        device,
    )
    res = {"game": ckpt["game"], "arch": ckpt["spec"].get("arch"), **res}
    text = json.dumps(res, indent=2)
    if args.out:
        from a2d.checkpoint import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    print(text)


def cmd_random(args) -> None:
    from a2d import config
    from a2d.checkpoint import atomic_write_json
    from a2d.envs import canonical
    from a2d.rl.evaluate import eval_seed, evaluate_random

    tc = config.train_config(_load_cfg(args))
    game = canonical(args.game)
    _check_out(args.out, "file")
    res = {
        "game": game,
        **evaluate_random(
            game, args.episodes or tc.eval.episodes, tc.eval, tc.env, eval_seed(args.seed, 2**21)
        ),
    }
    atomic_write_json(args.out, res)
    print(
        f"{game} random policy: {res['mean']:.2f} ± {res['std']:.2f} over {res['episodes']} episodes"
    )


def cmd_teacher(args) -> None:
    """Record which trained run is a game's teacher (read by the search)."""
    from a2d.teacher_file import check_run, write_teacher

    check_run(args.run)
    out = _check_out(args.out, "file")
    run = Path(args.run)
    if run.is_dir() and out.resolve().is_relative_to(run.resolve()):
        raise A2DError(f"--out {args.out} is inside the run {args.run}; write teachers elsewhere")
    _check_agent(run / "agent.pt")
    write_teacher(args.run, args.out)


def cmd_info(args) -> None:
    from a2d.models import build
    from a2d.models.cost import cpu_latency_ms, model_card

    for arch in args.arch:
        _check_arch(arch)
    for arch in args.arch:
        m = build(arch, 18)
        card = model_card(m, arch)
        if args.latency:
            card["latency_ms_b1"] = round(cpu_latency_ms(m), 3)
        print(json.dumps(card))


def cmd_export(args) -> None:
    from a2d.export import SUFFIX, export_run

    run = Path(args.run)
    agent_path = run / "agent.pt" if run.is_dir() else run
    if not agent_path.exists():
        raise A2DError(f"{run}: no agent.pt (is it a finished run directory?)")
    _check_agent(agent_path)
    out = args.out or agent_path.parent / "export" / f"agent{SUFFIX[args.format]}"
    _check_out(out, "file")
    _check_out(f"{out}.json", "file")
    card = export_run(
        args.run,
        args.format,
        args.out,
        n_obs=args.observations,
        threads=args.threads,
        log=lambda s: print(s, flush=True),
    )
    par, lat = card["parity"], card["latency_ms_b1"]
    runtime = "onnxruntime" if args.format == "onnx" else "torchscript"
    print(
        f"wrote {card['file']} ({card['file_bytes'] / 1e6:.2f} MB) and its card: "
        f"{card['macs'] / 1e6:.2f} M MACs, parity max abs err "
        f"{max(par['max_abs_err_logits'], par['max_abs_err_value']):.1e} on "
        f"{par['observations']} real observations, batch-1 latency {runtime} "
        f"{lat[runtime]:.3f} ms vs PyTorch eager {lat['pytorch_eager']:.3f} ms"
    )


def cmd_play(args) -> None:
    from a2d import config
    from a2d.play import check_video_path, play_run

    tc = config.train_config(_load_cfg(args))
    run = Path(args.run)
    agent_path = run / "agent.pt" if run.is_dir() else run
    if not agent_path.exists():
        raise A2DError(f"{run}: no agent.pt (is it a finished run directory?)")
    _check_agent(agent_path)
    if args.video:
        check_video_path(args.video)
        _check_out(args.video, "file", "--video")
    if args.out:
        _check_out(args.out, "file")
    res = play_run(
        args.run,
        args.episodes,
        video=args.video,
        seed=args.seed,
        eval_cfg=tc.eval,
        env_cfg=tc.env,
        device=config.resolve_device(tc.device),
        greedy=args.greedy,
        scale=args.scale,
        log=lambda s: print(s, flush=True),
    )
    if args.out:
        from a2d.checkpoint import atomic_write_json

        atomic_write_json(args.out, res)
    print(
        f"{res['game']} {res['arch']}: score {res['mean']:g} (mean of {res['episodes']} "
        f"game{'s' if res['episodes'] != 1 else ''}: {', '.join(f'{s:g}' for s in res['scores'])})"
        + (f"; video {res['video']} ({res['video_frames']} frames)" if args.video else "")
    )


def cmd_games(args) -> None:
    from a2d.envs import valid_games

    print("\n".join(valid_games()))


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``a2d: error: ...``, exit 2, like the others."""

    def error(self, message: str):
        msg = " ".join(message.split())
        msg = re.sub(r"^argument (\S+): \1 ", r"\1 ", msg)  # "--seed must be ..." said once
        self.exit(2, f"a2d: error: {msg} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="a2d",
        description="Auto-Agent-Distiller (a2d): train, search, derive, evaluate and deploy "
        "small Atari agents. 'a2d COMMAND --help' for a command's options.",
    )
    ap.add_argument("--version", action="version", version=f"a2d {a2d.__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    from a2d.config import DEVICES

    def cfg_opts(p):
        p.add_argument(
            "--config",
            action="append",
            metavar="YAML",
            help="a config file; repeat to merge several in order "
            "(--config config.yaml --config presets/quick.yaml)",
        )
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override one config key, e.g. ppo.num_envs=16; repeat for several "
            "(applied after every --config)",
        )
        p.add_argument("--config-json", help=argparse.SUPPRESS)  # what the Snakemake rules pass
        p.add_argument(
            "--device", choices=DEVICES, help="where the nets run (auto: CUDA when present)"
        )

    p = sub.add_parser("train", help="train one agent with PPO")
    p.add_argument("--game", required=True, help="ALE game, e.g. Breakout, MsPacman")
    p.add_argument("--arch", required=True, help="vanilla, resnetN, or a path to arch.json")
    p.add_argument("--seed", type=seed_arg, default=1, help=f"0..{SEED_MAX} (default 1)")
    p.add_argument("--steps", type=int, help="environment steps (ppo.total_steps)")
    p.add_argument("--num-envs", type=int, help="parallel envs (ppo.num_envs)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument(
        "--teacher",
        help="distil from this teacher (run dir, agent.pt or teachers/<game>.json) "
        "with the config's distill.actor / distill.critic",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="if --out holds a finished run, move it aside to <parent>/.<name>.replaced-<UTC time> "
        "and start afresh (without it, a finished run is refused)",
    )
    cfg_opts(p)
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("search", help="architecture search on one game (PPO on the supernet)")
    p.add_argument("--game", required=True, help="ALE game, e.g. Breakout, MsPacman")
    p.add_argument(
        "--method", required=True, help="a method of the config's registry, e.g. a2d_one_level"
    )
    p.add_argument("--teacher", help="teacher run dir, its agent.pt, or teachers/<game>.json")
    p.add_argument("--seed", type=seed_arg, default=1, help=f"0..{SEED_MAX} (default 1)")
    p.add_argument(
        "--steps",
        type=int,
        dest="search_steps",
        help="environment steps (search.steps)",
    )
    p.add_argument("--num-envs", type=int, help="parallel envs (ppo.num_envs)")
    p.add_argument("--out", required=True, help="search directory")
    p.add_argument(
        "--force",
        action="store_true",
        help="if --out holds a finished search, move it aside to <parent>/.<name>.replaced-<UTC time> "
        "and start afresh (without it, a finished search is refused)",
    )
    p.add_argument(
        "--cost-table",
        help="the latency table (a2d cost-table) of a search with search.cost: latency",
    )
    cfg_opts(p)
    p.set_defaults(fn=cmd_search)

    from a2d.config import COST_TARGETS

    p = sub.add_parser(
        "cost-table",
        help="measure the per-cell latency table of the search's supernet (search.cost: latency)",
    )
    p.add_argument(
        "--target", required=True, help=f"where to measure, batch 1: {', '.join(COST_TARGETS)}"
    )
    p.add_argument("--out", help="JSON file to write (default cost-TARGET.json)")
    p.add_argument(
        "--repeats",
        type=_int_arg("--repeats", 1),
        default=50,
        help="timed calls per op; the median is kept (default 50)",
    )
    p.add_argument(
        "--warmup",
        type=_int_arg("--warmup", 0),
        default=10,
        help="untimed calls before them (default 10)",
    )
    p.add_argument(
        "--threads",
        type=_int_arg("--threads", 1),
        default=1,
        help="CPU threads (default 1, as the export's latency)",
    )
    p.add_argument(
        "--statistic",
        choices=["median", "min"],
        default="median",
        help="of the timed calls (default median; min is less disturbed on a busy machine)",
    )
    cfg_opts(p)
    p.set_defaults(fn=cmd_cost_table)

    p = sub.add_parser("derive", help="argmax of a search's alpha -> arch.json")
    p.add_argument("--search", required=True, help="search directory or its supernet.pt")
    p.add_argument("--out", required=True, help="arch.json to write")
    p.add_argument("--name", help="architecture name recorded in arch.json")
    p.set_defaults(fn=cmd_derive)

    p = sub.add_parser("evaluate", help="test-evaluate a trained agent.pt")
    p.add_argument("--agent", required=True, help="a trained agent.pt")
    p.add_argument(
        "--episodes", type=_int_arg("--episodes", 1), help="default: the config's eval.episodes"
    )
    p.add_argument("--seed", type=seed_arg, default=1, help=f"0..{SEED_MAX} (default 1)")
    p.add_argument("--out", help="write the result JSON here")
    cfg_opts(p)
    p.set_defaults(fn=cmd_evaluate)

    p = sub.add_parser("random", help="score of the uniform-random policy on the test protocol")
    p.add_argument("--game", required=True, help="ALE game, e.g. Breakout, MsPacman")
    p.add_argument(
        "--episodes", type=_int_arg("--episodes", 1), help="default: the config's eval.episodes"
    )
    p.add_argument("--seed", type=seed_arg, default=1, help=f"0..{SEED_MAX} (default 1)")
    p.add_argument("--out", required=True, help="result JSON to write")
    cfg_opts(p)
    p.set_defaults(fn=cmd_random)

    p = sub.add_parser("teacher", help="record a finished run as a game's teacher")
    p.add_argument("--run", required=True, help="run directory with eval.json and agent.pt")
    p.add_argument("--out", required=True, help="teacher file to write, e.g. teachers/<game>.json")
    p.set_defaults(fn=cmd_teacher)

    p = sub.add_parser("info", help="MACs and params of architectures")
    p.add_argument("arch", nargs="+", help="vanilla, resnetN, supernet or a path to arch.json")
    p.add_argument("--latency", action="store_true", help="also batch-1 CPU latency")
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser(
        "export", help="export a trained agent to ONNX or TorchScript, with a JSON card"
    )
    p.add_argument("--run", required=True, help="run directory (with agent.pt) or an agent.pt")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"], help="file format")
    p.add_argument(
        "--out", help="file to write (default <run>/export/agent.onnx or agent.torchscript.pt)"
    )
    p.add_argument(
        "--observations",
        type=_int_arg("--observations", 1),
        default=256,
        help="real observations for the parity check (default 256)",
    )
    p.add_argument(
        "--threads",
        type=_int_arg("--threads", 1),
        default=1,
        help="CPU threads for the latency numbers (default 1)",
    )
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("play", help="play full games with a trained agent; record a video")
    p.add_argument("--run", required=True, help="run directory (with agent.pt) or an agent.pt")
    p.add_argument(
        "--episodes", type=_int_arg("--episodes", 1), default=1, help="full games (default 1)"
    )
    p.add_argument("--video", help="MP4 file to write (all games, real-time speed)")
    p.add_argument("--seed", type=seed_arg, default=1, help=f"0..{SEED_MAX} (default 1)")
    p.add_argument("--greedy", action="store_true", help="argmax actions (default: sampled)")
    p.add_argument(
        "--scale", type=_int_arg("--scale", 1), default=2, help="video upscaling factor (default 2)"
    )
    p.add_argument("--out", help="write scores as JSON here")
    cfg_opts(p)
    p.set_defaults(fn=cmd_play)

    p = sub.add_parser("games", help="list valid game names")
    p.set_defaults(fn=cmd_games)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 success; 2 bad input (one line on stderr, never a
    traceback); 130 Ctrl-C; 141 (128 + SIGPIPE) when stdout's reader left (``a2d games | head``)."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # usage errors (2) and --help (0), returned rather than raised
            return e.code if isinstance(e.code, int) else 2
        args.fn(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except A2DError as e:
        print(f"a2d: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader left: no more output, and none at exit either (Python flushes stdout then)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
