"""Files too large for one device call travel in pieces over several calls and come back whole."""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import device_parts  # noqa: E402


def files(tmp_path):
    sizes = {"data.tar.gz": 5_000_123, "fastai.whl": 123, "empty.whl": 0}
    made = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
        made.append(tmp_path / name)
    return made


def test_pieces_fit_each_call_and_join_rebuilds_every_file(tmp_path):
    originals = files(tmp_path)
    budget = 2_000_000 + device_parts.MANIFEST_ROOM
    calls = device_parts.split(originals, tmp_path / "device", budget)
    assert [c.name for c in calls] == ["call-1", "call-2", "call-3"]
    assert all(sum(p.stat().st_size for p in c.iterdir()) <= budget for c in calls)
    assert sorted(p.name for p in calls[0].iterdir()) == ["data.tar.gz.part-0000"]
    back = device_parts.join(tmp_path / "device", tmp_path / "back")
    assert [p.name for p in back] == ["data.tar.gz", "fastai.whl", "empty.whl"]
    assert all(b.read_bytes() == o.read_bytes() for b, o in zip(back, originals))


def test_a_damaged_piece_or_a_call_folder_that_did_not_arrive_is_named_not_joined_wrong(tmp_path):
    calls = device_parts.split(files(tmp_path), tmp_path / "device", 2_000_000 + device_parts.MANIFEST_ROOM)
    piece = calls[2] / "data.tar.gz.part-0002"
    piece.write_bytes(bytes([piece.read_bytes()[0] ^ 1]) + piece.read_bytes()[1:])  # one bit flipped on the way
    with pytest.raises(SystemExit, match="data.tar.gz: rebuilt, but its size or sha256 differs"):
        device_parts.join(tmp_path / "device", tmp_path / "back")
    shutil.rmtree(calls[1])  # the machine went cold after call 1: call 2's folder is gone
    with pytest.raises(SystemExit, match=r"data.tar.gz: 2 of its 3 pieces are here"):
        device_parts.join(tmp_path / "device", tmp_path / "back")
    with pytest.raises(SystemExit, match="no manifest.json"):
        device_parts.join(tmp_path / "nothing", tmp_path / "back")
    with pytest.raises(SystemExit, match="is not empty"):
        device_parts.split(files(tmp_path), tmp_path / "device", 2_000_000)
