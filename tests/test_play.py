"""a2d play: full games on the test protocol, recorded to an MP4."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
from test_export import make_run  # tests/ is on sys.path (pytest's rootdir import)

from a2d.config import EnvConfig, EvalConfig
from a2d.envs import run_test_episodes
from a2d.play import PlayError, play, play_run
from a2d.rl.evaluate import evaluate, sampling_policy


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("play") / "run"
    agent = make_run(d, "vanilla", seed=2)
    return d, agent


def short_eval(**kw) -> EvalConfig:
    return EvalConfig(**{"frame_cap": 1200, "num_envs": 1, **kw})


def test_play_scores_what_the_test_evaluation_scores(run):
    """Same seed, same protocol: play's games are evaluate()'s games."""
    _, agent = run
    ev = short_eval(frame_cap=2400)
    res = play(agent, "Breakout", 2, seed=5, eval_cfg=ev, env_cfg=EnvConfig())
    ref = evaluate(agent, "Breakout", 2, ev, EnvConfig(), seed=5)
    assert res["scores"] == ref["scores"]
    assert res["episodes"] == 2 and all(n > 0 for n in res["lengths"])
    assert res["steps"] == sum(res["lengths"])


def test_play_writes_a_video_of_every_frame(run, tmp_path):
    import imageio_ffmpeg

    _, agent = run
    video = tmp_path / "v" / "game.mp4"
    seen = []
    res = play(
        agent, "Breakout", 1, seed=3, eval_cfg=short_eval(), video=video, scale=2,
        on_obs=seen.append,
    )  # fmt: skip
    # one frame per agent step, plus the first screen; at most 1200 frames cap / 4 steps
    n = res["lengths"][0]
    assert 20 < n <= 300 and res["video_frames"] == n + 1 == len(seen) + 1
    assert res["video_fps"] == 15.0
    gen = imageio_ffmpeg.read_frames(str(video))
    meta = gen.__next__()
    assert meta["size"] == (320, 420) and meta["fps"] == 15.0
    frames = [np.frombuffer(f, np.uint8).reshape(420, 320, 3) for f in gen]
    assert len(frames) == n + 1
    assert len({f.tobytes() for f in frames}) > n // 4  # a moving game, not a frozen picture
    # frame k of the video is the screen the agent saw as the newest frame of observation k
    ys, xs = (np.arange(84) * 210 // 84) * 2, (np.arange(84) * 160 // 84) * 2
    for k in range(0, n, 7):
        grey = frames[k][np.ix_(ys, xs)] @ np.array([0.299, 0.587, 0.114])
        assert np.abs(grey - seen[k][0, -1]).mean() < 12, k
    assert sorted(p.name for p in video.parent.iterdir()) == ["game.mp4"]  # no temp left
    # the video is run_test_episodes' on_frame screens of the same game (evaluate's policy, seed)
    screens = []
    ev = short_eval()
    ref = run_test_episodes(
        sampling_policy(agent, "cpu", torch.Generator().manual_seed(3)), "Breakout",
        episodes=1, num_envs=1, frame_cap=ev.frame_cap, sticky=ev.sticky, noop_max=ev.noop_max,
        frameskip=4, seed=3,
        on_frame=lambda i, rgb: screens.append(rgb.copy()),
    )  # fmt: skip
    assert ref == res["scores"] and len(screens) == res["video_frames"]
    for k in range(n + 1):  # H.264 is lossy, but no pixel is far off (a frame's neighbour is)
        assert (np.abs(frames[k][::2, ::2].astype(int) - screens[k]) > 60).sum() == 0, k


def test_play_run_and_refusals(run, tmp_path):
    d, _ = run
    res = play_run(d, 1, eval_cfg=short_eval(), greedy=True)
    assert res["arch"] == "vanilla" and res["policy"] == "greedy" and len(res["scores"]) == 1
    with pytest.raises(PlayError, match="mp4"):
        play_run(d, 1, video=tmp_path / "x.avi", eval_cfg=short_eval())
    with pytest.raises(PlayError, match="no agent.pt"):
        play_run(tmp_path / "missing", 1)


def test_cli_play(run, tmp_path, venv_bin):
    d, _ = run
    video, out = tmp_path / "out.mp4", tmp_path / "play.json"
    p = subprocess.run(
        [str(venv_bin / "a2d"), "play", "--run", str(d), "--episodes", "1", "--video", str(video),
         "--out", str(out), "--set", "eval.frame_cap=800", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert f"score {res['scores'][0]:g}" in p.stdout and "video" in p.stdout
    assert video.stat().st_size > 1000 and res["video_frames"] == res["steps"] + 1 <= 201
    p = subprocess.run(
        [str(venv_bin / "a2d"), "play", "--run", str(d), "--episodes", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2 and p.stderr.startswith(
        "a2d: error: --episodes must be an integer >= 1"
    )


def test_policy_argument_plays_an_exported_model(run, tmp_path):
    """The device side: an ONNX file plays the same game as the PyTorch agent (greedy)."""
    from a2d.export import export_run, load_exported

    d, agent = run
    export_run(d, "onnx", tmp_path / "a.onnx", n_obs=8, repeats=1)
    onnx_model = load_exported(tmp_path / "a.onnx")
    ev = short_eval()
    a = play(agent, "Breakout", 1, seed=4, eval_cfg=ev, greedy=True)
    b = play(
        None,
        "Breakout",
        1,
        seed=4,
        eval_cfg=ev,
        policy=lambda obs: onnx_model(obs)[0].argmax(-1),
    )
    assert a["scores"] == b["scores"] and a["lengths"] == b["lengths"]
