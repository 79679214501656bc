"""Issue 11 item 8: what killed conversions and builds leave behind is removed by the next run (only when provably
ours and stale), and a conversion killed between its two renames is restored."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from grace_edge.io import owned_prefix, remove_stale, remove_stale_temp, stale_entries, temp_dir
from tests.helpers.fake_graph import make_fake_onnx
from tests.security.helpers import dead_pid


def _folder(path: Path, content: str = "x") -> Path:
    path.mkdir()
    (path / "file.txt").write_text(content)
    return path


def test_only_dead_writers_leftovers_are_removed(tmp_path: Path) -> None:
    dead = dead_pid()
    stale = [_folder(tmp_path / f".out.{dead}-1a2b3c4d.tmp"), _folder(tmp_path / f".out.{dead}-5e6f7a8b.old")]
    live = [_folder(tmp_path / f".out.{os.getppid()}-1a2b3c4d.tmp"),  # our parent is alive: its work in progress
            _folder(tmp_path / f".out.{os.getpid()}-99999999.tmp"),  # this process's own
            _folder(tmp_path / f".other.{dead}-1a2b3c4d.tmp"),  # another output's
            _folder(tmp_path / ".out.deadbeef.tmp")]  # old-style name, recent: maybe still running
    legacy = _folder(tmp_path / ".out.0badc0de.tmp")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(legacy, (week_ago, week_ago))
    assert stale_entries(tmp_path, ".out.", ".tmp", r"[0-9a-f]{8}") == [legacy, stale[0]]
    removed = remove_stale(tmp_path, ".out.", ".tmp", r"[0-9a-f]{8}") + remove_stale(tmp_path, ".out.", ".old")
    assert sorted(removed) == sorted([legacy, *stale])
    assert all(p.exists() for p in live) and not any(p.exists() for p in [legacy, *stale])


def test_link_is_removed_never_its_target(tmp_path: Path) -> None:
    target = _folder(tmp_path / "precious")
    link = tmp_path / f".out.{dead_pid()}-1a2b3c4d.old"
    link.symlink_to(target)
    assert remove_stale(tmp_path, ".out.", ".old") == [link]
    assert (target / "file.txt").exists()


def test_conversion_killed_between_renames_is_restored(tmp_path: Path, caplog) -> None:
    from grace_edge.data.neu_det import recover_leftovers

    out = tmp_path / "neu"
    old = _folder(tmp_path / f".neu.{dead_pid()}-1a2b3c4d.old", "the previous dataset")
    staging = _folder(tmp_path / f".neu.{dead_pid()}-5e6f7a8b.tmp", "half of the new one")
    recover_leftovers(out)
    assert (out / "file.txt").read_text() == "the previous dataset"
    assert not old.exists() and not staging.exists()
    assert "restored" in caplog.text and old.name in caplog.text


def test_convert_recovers_before_checking_out(tmp_path: Path) -> None:
    from grace_edge.data.neu_det import convert
    from grace_edge.errors import InputError

    out = tmp_path / "neu"
    _folder(tmp_path / f".neu.{dead_pid()}-1a2b3c4d.old", "the previous dataset")
    with pytest.raises(InputError, match="already exists"):  # --out is back, so replacing it needs --force again
        convert(tmp_path / "no-such-src", out)
    assert (out / "file.txt").read_text() == "the previous dataset"


def test_converter_names_carry_the_pid() -> None:
    import inspect

    from grace_edge.data import neu_det

    assert "owned_prefix" in inspect.getsource(neu_det._write_dataset)
    assert "owned_prefix" in inspect.getsource(neu_det._publish)


def test_build_removes_killed_builds_temp_folders(tmp_path: Path, monkeypatch) -> None:
    from grace_edge.engine.pipeline import BuildOptions, build

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = dead_pid()
    left = [_folder(tmp_path / f"grace-build-{dead}-abc123"), _folder(tmp_path / f"grace-calib-{dead}-zz")]
    busy = _folder(tmp_path / f"grace-build-{os.getppid()}-abc123")
    with temp_dir("grace-build-") as mine:
        assert Path(mine).name.startswith(owned_prefix("grace-build-"))
    lines: list[str] = []
    onnx = make_fake_onnx(tmp_path / "fake.onnx")
    build(BuildOptions(precision="fp32", onnx=onnx, out=tmp_path / "out.onnx"), log=lines.append)
    assert not any(p.exists() for p in left) and busy.exists()
    assert any("removed 2 temp folder(s)" in line for line in lines)
    assert remove_stale_temp() == []
