"""Fuzz the one reader and ``logllm data build``: random bytes, random encodings, (truncated) archives.

Whatever the input, nothing escapes as a traceback, and every line is accounted for: either the
input is refused with a ``LogFormatError`` (exit status 2 and a message for the CLI), or the
reader's count of lines is the file's own, and each line was read or counted as blank.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import tarfile
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logllm.commands.data import main as data_main
from logllm.logs.errors import BuildReport, LogFormatError
from logllm.logs.reader import open_log_lines

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "shift_jis")
CONTAINERS = ("plain", "gz", "bz2", "zip", "tar.gz")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

texts = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=400)
log_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\t"), max_size=400)
# printable log lines: DEL and the C1 controls (0x7f-0x9f) are control bytes to the reader, and a "log" of nothing
# else is what it refuses as binary, so they are not drawn here (the first strategy's random bytes cover them)
log_lines = st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=0x2fff, blacklist_categories=("Cc", "Cs")),
                             max_size=60), max_size=40)
# (content, whether a reader must read it rather than refuse it, if it holds any text)
contents = st.one_of(
    st.tuples(st.binary(max_size=3000), st.just(False)),
    st.tuples(st.builds(lambda text, enc: text.encode(enc, errors="replace"), texts, st.sampled_from(ENCODINGS)),
              st.just(False)),
    # logs in UTF-8 or with a byte-order mark (UTF-16/32 included) are text, whatever their characters
    st.tuples(st.builds(lambda text, enc: text.encode(enc), log_text,
                        st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "utf-32"))), st.just(True)),
    # a log after logrotate's copytruncate: a run of NUL bytes where the writer's old offset was, then lines
    st.tuples(st.builds(lambda gap, lines: b"\0" * gap + "".join(f"{line}\n" for line in lines).encode(),
                        st.integers(0, 20_000), log_lines), st.just(True)),
)


def _pack(content: bytes, container: str) -> bytes:
    if container == "gz":
        return gzip.compress(content)
    if container == "bz2":
        return bz2.compress(content)
    buffer = io.BytesIO()
    if container == "zip":
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("app.log", content)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            info = tarfile.TarInfo("app.log")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _expected_lines(content: bytes) -> int:
    """The number of lines a reader must see: ``\\n``-separated, after a byte-order mark's decoding."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            content = content[len(bom):].decode(encoding, errors="replace").encode()
            break
    return content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)


def _has_text(content: bytes) -> bool:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return bool(content[len(bom):].decode(encoding, errors="replace").strip())
    return bool(content.replace(b"\0", b"").strip())


inputs = st.tuples(contents, st.sampled_from(CONTAINERS), st.one_of(st.none(), st.floats(0.0, 1.0)))


def _write(tmp_path, content: bytes, container: str, cut: float | None):
    data = content if container == "plain" else _pack(content, container)
    truncated = cut is not None and container != "plain" and int(len(data) * cut) < len(data)
    if truncated:
        data = data[: int(len(data) * cut)]
    path = tmp_path / f"input.{container}"
    path.write_bytes(data)
    return path, truncated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=inputs)
def test_reader_accounts_for_every_line_or_refuses(tmp_path, case):
    (content, must_read), container, cut = case
    path, truncated = _write(tmp_path, content, container, cut)
    report = BuildReport()
    try:
        lines = list(open_log_lines(str(path), report))
    except LogFormatError as error:
        assert str(error).startswith(str(path)), error        # the message names the file
        assert not (must_read and not truncated and _has_text(content)), f"a text log was refused: {error}"
        return
    # a truncated archive either fails, or reads as what is left of it (cut before its magic bytes: plain bytes)
    expected = report["lines_read"] if truncated else _expected_lines(content)
    assert report["lines_read"] == expected
    assert len(lines) + report["blank_lines"] == expected
    numbers = [number for _, number, _ in lines]
    assert numbers == sorted(set(numbers)) and (not numbers or numbers[-1] <= expected)
    assert all("\x00" not in text and "\n" not in text for _, _, text in lines)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=inputs)
def test_data_build_builds_or_refuses_with_a_message(tmp_path_factory, capsys, case):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    (content, _), container, cut = case
    path, truncated = _write(tmp_path, content, container, cut)
    out = tmp_path / "out"
    code = data_main(["build", "--dataset", "plain", "--input", str(path), "--output", str(out), "--window-size", "5",
                      "--step", "5", "--no-difficulty"])
    _, err = capsys.readouterr()
    if code != 0:
        assert code == 2 and "logllm data build: error:" in err and "Traceback" not in err
        assert not out.exists()                                   # nothing half-written
        return
    info = json.loads((out / "plain_sliding_5_5" / "dataset_info.json").read_text())
    counts = info["build_report"]["counts"]
    assert truncated or counts["lines_read"] == _expected_lines(content)
    assert counts["log_lines"] + counts.get("blank_lines", 0) == counts["lines_read"]
    assert sum(s["lines"] for s in info["statistics"].values()) == counts["log_lines"]   # every line in a window
