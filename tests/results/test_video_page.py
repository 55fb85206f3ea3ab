"""a2d.results.video_page: the MP4 inlined into a self-contained HTML page."""

from __future__ import annotations

import base64
import json

import pytest

from a2d.results import ResultsError, video_page


def test_page_inlines_the_video_and_the_score(tmp_path):
    mp4 = tmp_path / "g.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    score = tmp_path / "g.json"
    score.write_text(json.dumps({"mean": 2200.0, "episodes": 1}))
    out = tmp_path / "v" / "g.html"
    video_page.main(
        ["--video", str(mp4), "--score", str(score), "--title", "A <b>", "--out", str(out)]
    )
    html = out.read_text()
    assert base64.b64encode(mp4.read_bytes()).decode() in html
    assert "data:video/mp4;base64," in html and "<video" in html
    assert "score 2200.0 over 1 full game(s)" in html
    assert "A &lt;b&gt;" in html  # the title is escaped


def test_missing_video_is_named(tmp_path):
    with pytest.raises(ResultsError, match="missing input file: .*no.mp4"):
        video_page.page(tmp_path / "no.mp4", "t")
    with pytest.raises(SystemExit) as e:
        video_page.main(
            ["--video", str(tmp_path / "no.mp4"), "--title", "t", "--out", str(tmp_path / "o.html")]
        )
    assert e.value.code == f"missing input file: {tmp_path / 'no.mp4'}"
    assert not (tmp_path / "o.html").exists()
