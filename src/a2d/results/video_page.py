"""Wrap a gameplay MP4 into a self-contained HTML page (the video inlined as a data URI), so the
Snakemake report, which shows HTML inline but offers other files only as downloads, plays it."""

from __future__ import annotations

import argparse
import base64
import html
import json
from pathlib import Path

from a2d.checkpoint import atomic_write_text
from a2d.results.curves import input_file, one_line_errors


def page(video: Path, title: str, score: dict | None = None) -> str:
    """The HTML page; :class:`~a2d.results.ResultsError` when the video is missing."""
    data = base64.b64encode(input_file(video).read_bytes()).decode("ascii")
    caption = html.escape(title)
    if score:
        caption += html.escape(
            f" — score {score['mean']:.1f} over {score['episodes']} full game(s)"
            if "mean" in score
            else ""
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>\n<body style='margin:0;font-family:sans-serif'>\n"
        f"<p>{caption}</p>\n"
        "<video controls autoplay muted loop style='max-width:100%'>"
        f"<source type='video/mp4' src='data:video/mp4;base64,{data}'></video>\n"
        "</body></html>\n"
    )


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--score", type=Path, help="a2d play --out JSON (mean, episodes)")
    ap.add_argument("--title", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    score = json.loads(a.score.read_text()) if a.score else None
    atomic_write_text(a.out, page(a.video, a.title, score))
    print(a.out)


if __name__ == "__main__":
    main()
