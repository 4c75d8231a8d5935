"""The tail -F follower: appends, partial lines, rotation, truncation, late creation, bad bytes."""

from __future__ import annotations

import os

from logllm.logs.follow import LogFollower


def _append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def _drain(follower, polls: int = 5) -> list[str]:
    return [line for _ in range(polls) for line in follower.poll()]


def test_backlog_is_read_in_bounded_chunks(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log, chunk_bytes=64)
    _append(log, b"".join(b"line %03d\n" % i for i in range(100)))
    first = follower.poll()
    assert 0 < len(first) <= 8
    assert first + _drain(follower, 200) == [f"line {i:03d}" for i in range(100)]


def test_starts_at_end_and_returns_only_complete_lines(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"old line\n")
    follower = LogFollower(log)
    assert follower.poll() == []
    _append(log, b"one\ntwo\nthr")
    assert follower.poll() == ["one", "two"]
    _append(log, b"ee\r\n")
    assert follower.poll() == ["three"]


def test_from_start_reads_existing_content(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\n")
    assert LogFollower(log, from_start=True).poll() == ["a", "b"]


def test_rotation_drains_old_file_then_follows_new_one(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log)
    _append(log, b"before\n")
    assert follower.poll() == ["before"]
    _append(log, b"last-in-old\ntail-no-newline")
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(b"first-in-new\n")
    assert _drain(follower) == ["last-in-old", "tail-no-newline", "first-in-new"]
    assert follower.stats.rotations == 1
    _append(log, b"next\n")
    assert follower.poll() == ["next"]


def test_truncation_rewinds(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 50 + b"\n")
    follower = LogFollower(log, from_start=True)
    assert len(follower.poll()) == 1
    with open(log, "wb") as handle:  # copytruncate / `> app.log`
        handle.write(b"fresh\n")
    assert follower.poll() == ["fresh"]
    assert follower.stats.truncations == 1


def test_waits_for_a_missing_file(tmp_path):
    log = tmp_path / "later.log"
    follower = LogFollower(log)
    assert follower.poll() == []
    log.write_bytes(b"hello\n")
    assert follower.poll() == ["hello"]


def test_long_lines_are_split_and_bad_bytes_counted(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log, max_line_bytes=10)
    _append(log, b"y" * 25)
    _append(log, b"\n\xff\xfeok\n")
    lines = follower.poll()
    assert lines[:3] == ["y" * 10, "y" * 10, "y" * 5]
    assert lines[3] == "\ufffd\ufffdok"
    assert follower.stats.split_long_lines == 2 and follower.stats.undecodable_lines == 1
