"""Download the official full datasets with progress, resume (HTTP Range) and checksum checks.

HDFS, BGL and Thunderbird come from the Loghub Zenodo record 8196385; their MD5 checksums are
read from Zenodo's record API at download time (or given with ``--md5``/``--sha256``). Liberty
is not in Loghub: it comes from the USENIX CFDR release (``liberty2.gz``), which publishes no
checksum, so its SHA-256 is computed and printed for you to pin. An interrupted download is
kept as ``<file>.part`` and resumed with a ``Range`` request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from logllm.logs.errors import LogFormatError

__all__ = ["SOURCES", "DataSource", "download", "fetch_expected_checksum", "file_digest", "ChecksumError"]

logger = logging.getLogger(__name__)

ZENODO = "https://zenodo.org"
LOGHUB_RECORD = "8196385"
CHUNK = 1 << 20


@dataclass(frozen=True)
class DataSource:
    name: str
    filename: str
    url: str | None = None              # absolute URL; None: Zenodo record file
    record: str | None = LOGHUB_RECORD  # Zenodo record for URL and checksum
    note: str = ""

    def file_url(self, base: str = ZENODO) -> str:
        if self.url is not None:
            return self.url
        return f"{base.rstrip('/')}/records/{self.record}/files/{self.filename}?download=1"

    def api_url(self, base: str = ZENODO) -> str | None:
        return None if self.record is None else f"{base.rstrip('/')}/api/records/{self.record}"


SOURCES: dict[str, DataSource] = {
    "hdfs": DataSource("hdfs", "HDFS_v1.zip", note="HDFS.log + preprocessed/anomaly_label.csv, Event_traces.csv"),
    "bgl": DataSource("bgl", "BGL.zip", note="BGL.log with the label column"),
    "thunderbird": DataSource("thunderbird", "Thunderbird.tar.gz", note="Thunderbird.log (29.6 GiB unpacked)"),
    "liberty": DataSource("liberty", "liberty2.gz", record=None,
                          url="http://0b4af6cdc2f0c5998459-c0245c5c937c5dedcca3f1764ecc9b2f.r43.cf2.rackcdn.com/hpc4/liberty2.gz",
                          note="USENIX CFDR release (not part of Loghub); no published checksum"),
}


class ChecksumError(LogFormatError):
    """The downloaded file does not match the published checksum."""


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_expected_checksum(source: DataSource, base: str = ZENODO, timeout: float = 30.0) -> tuple[str, str] | None:
    """(algorithm, hex digest) for ``source`` from the Zenodo record API, or None if unpublished."""
    api = source.api_url(base)
    if api is None:
        return None
    with urllib.request.urlopen(api, timeout=timeout) as response:
        record = json.load(response)
    for entry in record.get("files", []):
        if entry.get("key") == source.filename and entry.get("checksum"):
            algorithm, _, value = entry["checksum"].partition(":")
            return algorithm, value
    raise LogFormatError(f"Zenodo record {source.record} lists no checksum for {source.filename}", path=api)


def _progress(total: int | None, initial: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name)


def _fetch(url: str, part: Path, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (Range resume when the server allows it)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "logllm-data-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:   # nothing left to fetch
            return
        raise
    with response:
        resumed = response.status == 206
        if have and not resumed:
            logger.info("server ignored the Range request; downloading %s from the start", url)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as out, _progress(total, have, part.name[:-5]) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def download(name: str, output_dir: str | Path, *, base_url: str = ZENODO, url: str | None = None,
             md5: str | None = None, sha256: str | None = None, timeout: float = 60.0, verify: bool = True) -> Path:
    """Download dataset ``name`` into ``output_dir`` and verify it; return the file path.

    A file that is already complete and verified is not fetched again.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target, part = out_dir / source.filename, out_dir / (source.filename + ".part")
    expected = ("md5", md5) if md5 else ("sha256", sha256) if sha256 else None
    if expected is None and verify:
        expected = fetch_expected_checksum(source, base_url, timeout)
    if target.exists() and expected and file_digest(target, expected[0]) == expected[1].lower():
        logger.info("%s is already downloaded and verified", target)
        return target
    _fetch(url or source.file_url(base_url), part, timeout)
    if verify and expected is not None:
        actual = file_digest(part, expected[0])
        if actual != expected[1].lower():
            bad = part.with_suffix(part.suffix + ".corrupt")
            os.replace(part, bad)
            raise ChecksumError(f"{expected[0]} is {actual}, published {expected[1]}; kept as {bad.name}, "
                                "delete it and download again", path=str(target))
    elif verify:
        logger.warning("%s has no published checksum; sha256 = %s", source.filename, file_digest(part, "sha256"))
    os.replace(part, target)
    return target
