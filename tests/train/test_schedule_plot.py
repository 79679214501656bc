"""grace_schedule.png shows the DS-CBSM++ clip bounds, so a class pinned at 0.85 or 1.35 is visible."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_plot_draws_clip_bounds_and_every_class(tmp_path: Path):
    from grace_edge.train.schedule_plot import plot_schedule

    rows = ["epoch,s_e,gamma,refreshes,w/a,w/b,w_dyn/a,w_dyn/b", "1,0.05,0,3,1.2,0.8,1.35,0.85", "2,0.125,0.3,6,1.25,0.85,1.35,0.85"]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    fig = plot_schedule(tmp_path / "s.csv", tmp_path / "s.png", 0.85, 1.35)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*part"))
    _, w_dyn, w = fig.axes[:3]
    for ax in (w_dyn, w):
        flat = {round(float(line.get_ydata()[0]), 6) for line in ax.get_lines() if len(set(line.get_ydata())) == 1}
        assert {0.85, 1.35} <= flat  # the clip bounds are drawn
        assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["a", "b"]


def test_plot_without_sampler_columns_draws_only_schedules(tmp_path: Path):
    from grace_edge.train.schedule_plot import plot_schedule

    (tmp_path / "s.csv").write_text("epoch,s_e\n1,0.05\n2,0.2\n")
    fig = plot_schedule(tmp_path / "s.csv", tmp_path / "s.png", 0.85, 1.35)
    assert len(fig.axes) == 1 and (tmp_path / "s.png").is_file()
    with pytest.raises(FileNotFoundError):
        plot_schedule(tmp_path / "missing.csv", tmp_path / "x.png", 0.85, 1.35)
