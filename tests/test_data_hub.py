"""Hub dataset folders: export + load_dataset, the datasets builder class, push (mocked HfApi), download (local server)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from logllm.commands.data import main


def test_cli_build_two_configs_into_one_repo(tmp_path):
    import datasets

    out = tmp_path / "repo"
    assert main(["build", "--dataset", "synthetic-hdfs", "--n-sessions", "120", "--anomaly-rate", "0.2",
                 "--seed", "3", "--output", str(out)]) == 0
    assert main(["build", "--dataset", "synthetic-bgl", "--n-lines", "1500", "--window-size", "25", "--step", "25",
                 "--anomaly-rate", "0.01", "--no-difficulty", "--output", str(out)]) == 0
    names = datasets.get_dataset_config_names(str(out))
    assert sorted(names) == ["synthetic_bgl_sliding_25_25", "synthetic_hdfs_session"]
    hdfs = datasets.load_dataset(str(out), "synthetic_hdfs_session")
    bgl = datasets.load_dataset(str(out), "synthetic_bgl_sliding_25_25")
    assert sum(hdfs[s].num_rows for s in hdfs) == 120 and sum(bgl[s].num_rows for s in bgl) == 60
    assert hdfs["train"].features["line_labels"].feature.dtype == "int64"
    card = (out / "README.md").read_text()
    assert card.count("- config_name:") == 2 and "| synthetic_hdfs_session | " in card
    assert "How hard is it?" in card and "decision tree on event counts" in card   # measured for synthetic
    info = json.loads((out / "synthetic_hdfs_session" / "dataset_info.json").read_text())
    assert info["statistics"]["test"]["windows"] == 24 and info["seed"] == 3
    assert info["difficulty"]["methods"]["keyword rule"]["f1"] < 0.9


def _window_ids(dataset) -> dict[str, list[str]]:
    return {split: list(dataset[split]["window_id"]) for split in dataset}


def test_a_rebuilt_folder_is_read_fresh_and_a_second_build_needs_overwrite(tmp_path, monkeypatch, capsys):
    """Issue 30 (1): after a load, a folder rebuilt with other input came back with the old windows from the
    `datasets` cache (keyed on the config name). `load_window_dataset` (train and evaluate) reads the parquet files
    as they are, writes no cache copy; building a config that is already there is refused without --overwrite."""
    import datasets

    from logllm.report.evaluate import load_window_dataset
    from logllm.training.data import TrainingDataError, load_training_dataset

    cache = tmp_path / "hf" / "datasets"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    out, config = tmp_path / "ds", "synthetic_bgl_sliding_20_20"
    common = ["build", "--dataset", "synthetic-bgl", "--window-size", "20", "--step", "20", "--no-difficulty",
              "--output", str(out)]
    assert main([*common, "--n-lines", "400"]) == 0
    first = load_window_dataset(str(out), config)
    assert sum(first[s].num_rows for s in first) == 20
    assert not any(cache.rglob("*.arrow"))                      # no cache copy to go stale
    datasets.load_dataset(str(out), config)                     # any earlier load through the datasets cache
    capsys.readouterr()

    before = (out / config / "train.parquet").read_bytes()
    assert main([*common, "--n-lines", "800", "--seed", "1"]) == 2     # same config: refused before any work
    err = capsys.readouterr().err
    assert f"config '{config}' is already built there (20 windows" in err and "--overwrite" in err
    assert (out / config / "train.parquet").read_bytes() == before

    assert main([*common, "--n-lines", "800", "--seed", "1", "--overwrite"]) == 0
    rebuilt = load_window_dataset(str(out), config)
    assert sum(rebuilt[s].num_rows for s in rebuilt) == 40
    expected = {s: datasets.Dataset.from_parquet(str(out / config / f"{s}.parquet"), cache_dir=str(tmp_path / "c"))
                for s in rebuilt}
    assert _window_ids(rebuilt) == {s: list(expected[s]["window_id"]) for s in expected}
    assert rebuilt["train"].features == first["train"].features
    # `logllm train --dataset_name ds` reads the same way; the default config is used when none is named
    args = type("Args", (), {"dataset_name": str(out), "dataset_config": None})()
    assert _window_ids(load_training_dataset(args, seed=0)) == _window_ids(rebuilt)
    args.dataset_config = "no_such_config"
    with pytest.raises(TrainingDataError, match=f"no config 'no_such_config'; it holds {config}"):
        load_training_dataset(args, seed=0)


def test_a_folder_without_readme_configs_is_read_by_split_file_names(tmp_path):
    """A hand-made folder (parquet files named after their splits, shards too, no README) reads as datasets would."""
    from logllm.dataset.build import build_synthetic_dataset
    from logllm.report.evaluate import load_window_dataset

    splits = build_synthetic_dataset(kind="hdfs", n_windows=40, anomaly_ratio=0.2, seed=0)
    folder = tmp_path / "handmade"
    folder.mkdir()
    half = len(splits["train"]) // 2
    splits["train"].select(range(half)).to_parquet(str(folder / "train-00000-of-00002.parquet"))
    splits["train"].select(range(half, len(splits["train"]))).to_parquet(str(folder / "train-00001-of-00002.parquet"))
    splits["test"].to_parquet(str(folder / "test.parquet"))
    loaded = load_window_dataset(str(folder))
    assert set(loaded) == {"train", "test"}
    assert list(loaded["train"]["window_id"]) == list(splits["train"]["window_id"])
    assert loaded["test"].features == splits["test"].features
    with pytest.raises(ValueError, match="no config 'x' \\(its README declares no configs\\)"):
        load_window_dataset(str(folder), "x")


def test_streaming_build_of_an_existing_config_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["build", "--dataset", "synthetic-hdfs", "--n-sessions", "60", "--streaming", "--output", str(out)]
    assert main(argv) == 0
    assert main([*argv, "--n-sessions", "80"]) == 2 and "already built there (60 windows" in capsys.readouterr().err
    assert main([*argv, "--n-sessions", "80", "--overwrite"]) == 0
    info = json.loads((out / "synthetic_hdfs_session" / "dataset_info.json").read_text())
    assert sum(s["windows"] for s in info["statistics"].values()) == 80


def test_oversampling_only_touches_train(tmp_path):
    out = tmp_path / "repo"
    assert main(["build", "--dataset", "synthetic-hdfs", "--n-sessions", "200", "--anomaly-rate", "0.05",
                 "--beta", "0.3", "--no-difficulty", "--output", str(out)]) == 0
    stats = json.loads((out / "synthetic_hdfs_session" / "dataset_info.json").read_text())["statistics"]
    train = stats["train"]
    assert train["anomalous_windows"] / train["windows"] >= 0.3
    assert stats["test"]["windows"] == 40 and stats["test"]["anomalous_windows"] / 40 < 0.3


def test_datasets_builder_class(tmp_path):
    from logllm.dataset.builder import LogWindows

    builder = LogWindows(name="tiny", dataset="synthetic-bgl", n_lines=600, window_size=30, step=30,
                         cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert set(ds) == {"train", "validation", "test"} and sum(ds[s].num_rows for s in ds) == 20
    assert builder.build_report["log_lines"] == 600


def test_builder_config_mirrors_every_build_setting():
    import dataclasses

    from logllm.dataset.builder import LogWindowsConfig
    from logllm.dataset.build import BuildSettings

    config_defaults = {f.name: f.default for f in dataclasses.fields(LogWindowsConfig)}
    for setting in dataclasses.fields(BuildSettings):
        assert setting.name in config_defaults, f"LogWindowsConfig lacks BuildSettings.{setting.name}"
        if setting.name != "dataset":  # the builder defaults to synthetic data, the CLI to bgl
            assert config_defaults[setting.name] == setting.default, setting.name


def test_push_uses_hfapi(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)))

    def upload_folder(self, **kw):
        calls.append(("upload", kw["repo_id"], kw))
        return huggingface_hub.CommitInfo(commit_url="https://huggingface.co/datasets/me/logs/commit/" + "1" * 40, commit_message="m", commit_description="",
                                          oid="1" * 40)

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    out = tmp_path / "repo"
    assert main(["build", "--dataset", "synthetic-bgl", "--n-lines", "400", "--window-size", "20", "--step", "20",
                 "--no-difficulty", "--output", str(out)]) == 0
    assert main(["push", str(out), "me/logs", "--private"]) == 0
    assert calls[0][:2] == ("create", "me/logs") and calls[0][2]["repo_type"] == "dataset" and calls[0][2]["private"]
    assert calls[1][:2] == ("upload", "me/logs") and calls[1][2]["folder_path"] == str(out)


# --------------------------------------------------------------------------------------------- download


def _archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("BGL.log", "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
                               "R02-M1-N0-C:J12-U11 RAS KERNEL INFO ok\n" * 2000)
    return buffer.getvalue()


@pytest.fixture()
def zenodo(tmp_path):
    """A stand-in for Zenodo on 127.0.0.1: record API with the MD5, file with Range support."""
    payload = _archive()
    state = {"md5": hashlib.md5(payload).hexdigest(), "ranges": [], "honour_range": True}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/api/records/8196385"):
                body = json.dumps({"files": [{"key": "BGL.zip", "size": len(payload), "checksum": f"md5:{state['md5']}"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if not self.path.startswith("/records/8196385/files/BGL.zip"):
                self.send_error(404)
                return
            start = 0
            header = self.headers.get("Range")
            state["ranges"].append(header)
            if header and state["honour_range"]:
                start = int(header.split("=")[1].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(payload) - start))
            self.end_headers()
            self.wfile.write(payload[start:])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", payload, state
    server.shutdown()
    server.server_close()


def test_download_verifies_and_resumes(zenodo, tmp_path):
    from logllm.logs.download import download

    base, payload, state = zenodo
    out = tmp_path / "dl"
    out.mkdir()
    (out / "BGL.zip.part").write_bytes(payload[:1000])       # an interrupted earlier download
    path = download("bgl", out, base_url=base, timeout=10)
    assert path.read_bytes() == payload and state["ranges"] == ["bytes=1000-"]
    assert not (out / "BGL.zip.part").exists()
    assert download("bgl", out, base_url=base, timeout=10) == path and len(state["ranges"]) == 1   # verified, not refetched
    from logllm.logs.formats import parse_file

    assert sum(1 for _ in parse_file(str(path), "bgl")) == 2000


def test_download_restarts_when_range_ignored_and_rejects_bad_checksum(zenodo, tmp_path):
    from logllm.logs.download import ChecksumError, download

    base, payload, state = zenodo
    state["honour_range"] = False
    out = tmp_path / "dl"
    out.mkdir()
    (out / "BGL.zip.part").write_bytes(b"garbage")
    assert main(["download", "bgl", "--output", str(out), "--base-url", base]) == 0
    assert (out / "BGL.zip").read_bytes() == payload
    (out / "BGL.zip").unlink()
    state["md5"] = "0" * 32
    with pytest.raises(ChecksumError, match="md5 is .* published 0000"):
        download("bgl", out, base_url=base, timeout=10)
    assert (out / "BGL.zip.part.corrupt").exists() and not (out / "BGL.zip").exists()
