"""The tail -F follower: appends, partial lines, rotation, truncation (also refilled), copytruncate, bad bytes."""

from __future__ import annotations

import os
import shutil

from logllm.logs.follow import LogFollower


def _append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def _drain(follower, polls: int = 5) -> list:
    return [line for _ in range(polls) for line in follower.poll()]


def _texts(lines) -> list[str]:
    return [line.text for line in lines]


def _lines(n: int, start: int = 1, word: str = "line") -> bytes:
    return b"".join(b"%s %03d\n" % (word.encode(), i) for i in range(start, start + n))


def test_backlog_is_read_in_bounded_chunks(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log, chunk_bytes=64)
    _append(log, b"".join(b"line %03d\n" % i for i in range(100)))
    first = follower.poll()
    assert 0 < len(first) <= 8
    assert _texts(first + _drain(follower, 200)) == [f"line {i:03d}" for i in range(100)]


def test_starts_at_end_and_returns_only_complete_lines(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"old line\n")
    follower = LogFollower(log)
    assert follower.poll() == []
    _append(log, b"one\ntwo\nthr")
    assert _texts(follower.poll()) == ["one", "two"]
    _append(log, b"ee\r\n")
    assert _texts(follower.poll()) == ["three"]


def test_line_numbers_follow_the_file_when_starting_at_its_end(tmp_path):
    """Following from the end still numbers lines as the file does; a line being written is read whole."""
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\n\nc\npart")
    follower = LogFollower(log)
    _append(log, b"ial\nnext\n")
    assert [(x.number, x.text) for x in follower.poll()] == [(5, "partial"), (6, "next")]


def test_from_start_reads_existing_content(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"a\nb\n")
    assert _texts(LogFollower(log, from_start=True).poll()) == ["a", "b"]


def test_rotation_drains_old_file_then_follows_new_one(tmp_path):
    """Issue 17 (10): the old file's unterminated last line is the old file's, the new file starts at line 1."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log)
    _append(log, b"before\n")
    assert _texts(follower.poll()) == ["before"]
    _append(log, b"last-in-old\ntail-no-newline")
    assert _texts(follower.poll()) == ["last-in-old"]
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(b"first-in-new\n")
    lines = _drain(follower)
    assert [(x.file, x.number, x.text) for x in lines] == [(0, 3, "tail-no-newline"), (1, 1, "first-in-new")]
    assert follower.stats.rotations == 1
    _append(log, b"next\n")
    assert [(x.file, x.number) for x in follower.poll()] == [(1, 2)]


def test_truncation_rewinds(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 50 + b"\n")
    follower = LogFollower(log, from_start=True)
    assert len(follower.poll()) == 1
    with open(log, "wb") as handle:  # `> app.log` then a new line
        handle.write(b"fresh\n")
    assert [(x.file, x.number, x.text) for x in follower.poll()] == [(1, 1, "fresh")]
    assert follower.stats.truncations == 1


def test_truncation_refilled_between_polls_is_caught(tmp_path):
    """Issue 17 (2): write 35 lines, truncate, append 60 before the next poll: all 60 read, from line 1."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log)
    _append(log, _lines(35))
    assert len(follower.poll()) == 35
    log.write_bytes(b"")
    _append(log, _lines(60, word="new"))
    lines = _drain(follower)
    assert [(x.file, x.number) for x in lines] == [(1, n) for n in range(1, 61)]
    assert _texts(lines) == [f"new {i:03d}" for i in range(1, 61)]
    assert follower.stats.truncations == 1


def test_copytruncate_reads_the_end_of_the_old_file_from_its_copy(tmp_path):
    """Lines written after the last poll and before logrotate's copy + truncate are read from the copy."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log)
    _append(log, _lines(10))
    assert len(follower.poll()) == 10
    _append(log, _lines(5, start=11) + b"unterminated")
    shutil.copyfile(log, tmp_path / "app.log.1")
    with open(log, "r+b") as handle:
        handle.truncate(0)
    _append(log, _lines(3, word="new"))
    lines = _drain(follower)
    assert [(x.file, x.number, x.text) for x in lines] == (
        [(0, n, f"line {n:03d}") for n in range(11, 16)] + [(0, 16, "unterminated")]
        + [(1, n, f"new {n:03d}") for n in range(1, 4)])
    assert follower.stats.truncations == 1 and follower.stats.copies_read == 1


def test_waits_for_a_missing_file(tmp_path):
    log = tmp_path / "later.log"
    follower = LogFollower(log)
    assert follower.poll() == []
    log.write_bytes(b"hello\n")
    assert _texts(follower.poll()) == ["hello"]


def test_long_line_is_one_cut_line_and_bad_bytes_nuls_blanks_are_counted(tmp_path):
    """Issue 17 (10, 11): a line over the limit is one line (cut, counted); NULs removed and counted, never read."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    follower = LogFollower(log, max_line_bytes=10)
    _append(log, b"y" * 25)
    _append(log, b"\n\xff\xfeok\n\n\x00\x00\x00nul\x00run\nafter\n")
    lines = follower.poll()
    assert [(x.number, x.text) for x in lines] == [(1, "y" * 10), (2, "\ufffd\ufffdok"), (4, "nulrun"), (5, "after")]
    counts = follower.report.counts
    assert counts["lines_cut_at_max_length"] == 1 and counts["non_utf8_lines_repaired"] == 1
    assert counts["lines_with_nul_bytes"] == 1 and counts["nul_bytes_removed"] == 4 and counts["blank_lines"] == 1
    assert follower.stats.lines == 5
