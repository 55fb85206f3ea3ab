"""a2d.results.curves: reading curve files and aggregating across seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2d import A2DError
from a2d.results import ResultsError
from a2d.results.curves import (
    across_seeds,
    atomic_write_texts,
    one_line_errors,
    read_curve,
    read_json,
)


def curve(steps, means, stds=None):
    stds = stds if stds is not None else [0.0] * len(steps)
    return {
        "step": np.array(steps, float),
        "test_mean": np.array(means, float),
        "test_std": np.array(stds, float),
    }


def test_across_seeds_hand_example():
    a = curve([0, 10, 20], [0.0, 2.0, 4.0])
    b = curve([0, 10, 20, 30], [2.0, 4.0, 6.0, 8.0])  # a longer run: only shared steps count
    steps, mean, lo, hi = across_seeds([a, b])
    assert steps.tolist() == [0, 10, 20]
    assert mean.tolist() == pytest.approx([1.0, 3.0, 5.0])
    # two seeds 2 apart: sd = sqrt(2), se = 1, t_{0.975, 1 df} = 12.706: mean ± 12.706 (a
    # percentile bootstrap of two values would give [min, max] = mean ± 1)
    assert lo.tolist() == pytest.approx([1 - 12.7062, 3 - 12.7062, 5 - 12.7062], abs=1e-3)
    assert hi.tolist() == pytest.approx([1 + 12.7062, 3 + 12.7062, 5 + 12.7062], abs=1e-3)


def test_across_seeds_band_is_a_student_t_interval_per_step():
    rng = np.random.default_rng(0)
    ys = rng.normal(size=(3, 2)) * [1.0, 10.0] + [0.0, 100.0]
    cs = [curve([0, 5], y.tolist()) for y in ys]
    steps, mean, lo, hi = across_seeds(cs)
    assert mean.tolist() == pytest.approx(ys.mean(0).tolist())
    # three seeds: t_{0.975, 2 df} = 4.303 (table value), half-width 4.303 * sd / sqrt(3)
    half = 4.3027 * ys.std(0, ddof=1) / np.sqrt(3)
    assert (hi - mean).tolist() == pytest.approx(half.tolist(), rel=1e-4)
    assert (mean - lo).tolist() == pytest.approx(half.tolist(), rel=1e-4)


def test_one_seed_has_no_band():
    steps, mean, lo, hi = across_seeds([curve([0, 10], [5.0, 7.0], [1.0, 2.0])])
    assert mean.tolist() == [5.0, 7.0]
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_arch_labels_of_the_controls():
    from a2d.results.curves import arch_label, comparison_nets

    assert arch_label("vanilla_kd") == "Vanilla + KD"
    assert arch_label("resnet20_kd") == "ResNet-20 + KD"
    assert arch_label("searched_a2d_one_level_nokd") == "A2D-One-level (no KD)"
    assert arch_label("searched_a2d_one_level") == "A2D-One-level"
    assert arch_label("vanilla_eq") == "Vanilla (equal budget)"
    assert arch_label("resnet8_eq_kd") == "ResNet-8 (equal budget) + KD"
    assert comparison_nets(["vanilla", "resnet8"], "m", kd=True, nokd=True) == [
        "vanilla",
        "vanilla_kd",
        "resnet8",
        "resnet8_kd",
        "searched_m",
        "searched_m_nokd",
    ]
    assert comparison_nets(["vanilla"], "m") == ["vanilla", "searched_m"]


def test_read_curve_handles_nan(tmp_path):
    p = tmp_path / "curve.csv"
    p.write_text("step,test_mean,test_std,train_return\n0,1.5,0.5,nan\n128,2,0,\n")
    c = read_curve(p)
    assert list(c) == ["step", "test_mean", "test_std", "train_return"]
    assert c["step"].tolist() == [0, 128]
    assert c["test_mean"].tolist() == [1.5, 2.0]
    assert math.isnan(c["train_return"][0]) and math.isnan(c["train_return"][1])


def test_read_curve_reads_timing_and_keeps_text_columns(tmp_path):
    timing = tmp_path / "timing.csv"  # the wall-clock side of curve.csv (sps, wall_s)
    timing.write_text("step,sps,wall_s\n0,nan,0\n128,100,1.25\n")
    t = read_curve(timing)
    assert math.isnan(t["sps"][0]) and t["sps"][1] == 100 and t["wall_s"].tolist() == [0, 1.25]
    search = tmp_path / "search_curve.csv"
    search.write_text("step,phase\n0,warmup\n128,search\n")
    assert read_curve(search)["phase"].tolist() == ["warmup", "search"]


def test_read_curve_empty(tmp_path):
    p = tmp_path / "curve.csv"
    p.write_text("step,test_mean\n")
    with pytest.raises(ResultsError, match="empty"):
        read_curve(p)


def test_missing_inputs_raise_a_results_error_naming_the_file(tmp_path):
    assert issubclass(ResultsError, A2DError)
    missing = tmp_path / "runs" / "Breakout" / "vanilla" / "seed1" / "curve.csv"
    with pytest.raises(ResultsError) as e:
        read_curve(missing)
    assert str(e.value) == f"missing input file: {missing}"
    with pytest.raises(ResultsError, match="missing input file: .*model.json"):
        read_json(missing.with_name("model.json"))


def test_read_json(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "x.json") == {"a": 1}


def test_atomic_write_texts_writes_all_files(tmp_path):
    files = {tmp_path / "t" / "a.md": "| a |\n", tmp_path / "t" / "a.csv": "a\n1\n"}
    assert atomic_write_texts(files) == list(files)
    assert {p.name: p.read_text() for p in (tmp_path / "t").iterdir()} == {
        "a.md": "| a |\n",
        "a.csv": "a\n1\n",
    }


def test_atomic_write_texts_failing_file_leaves_the_others_untouched(tmp_path):
    old = tmp_path / "a.md"
    old.write_text("old")
    (tmp_path / "blocker").write_text("a file where a directory is needed")
    with pytest.raises(OSError):
        atomic_write_texts({old: "new", tmp_path / "new.csv": "x", tmp_path / "blocker" / "b": "y"})
    assert old.read_text() == "old"  # written to a staging file only, never renamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "blocker"]  # no temp files


def test_one_line_errors_turns_a_results_error_into_an_exit_message():
    @one_line_errors
    def main(argv=None):
        if argv == ["bad"]:
            raise ResultsError("missing input file: x.json")
        if argv == ["bug"]:
            raise KeyError("a bug stays a traceback")
        return None

    assert main([]) is None
    with pytest.raises(SystemExit) as e:
        main(["bad"])
    assert e.value.code == "missing input file: x.json"  # printed as one line, exit status 1
    with pytest.raises(KeyError):
        main(["bug"])
