"""Whole corpora (eegfm_sklearn.corpus, ``eegfm embed`` into a folder) on the shared recordings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import mne
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from eegfm_sklearn import (
    FoundationTransformer,
    embed_recordings,
    get_model_card,
    read_embeddings,
)
from eegfm_sklearn.cli import main
from eegfm_sklearn.corpus import read_manifest
from eegfm_sklearn.corpus.shards import shard_record

from conftest import require_data

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(get_model_card("labram").tiny_kwargs)
KW = {"model": "labram", "model_kwargs": TINY, "window_seconds": 2.0, "batch_size": 16, "verbose": 0}
CLI = ["--model", "labram", "--tiny", "--window", "2", "--batch-size", "16", "-q"]
pytestmark = pytest.mark.real_data


def corrupt_edf(folder):
    """An EDF cut inside its header: mne cannot read it."""
    path = Path(folder) / "corrupt.edf"
    path.write_bytes(require_data("eegmat", "Subject00_2.edf").read_bytes()[:3000])
    return path


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rows(out):
    df = read_embeddings(out, include_failed=True)
    return df.sort_values(["recording_id", "start_sample"]).reset_index(drop=True)


def emb(df):
    return df[[c for c in df.columns if c.startswith("emb_")]].to_numpy()


def bids_tree(root, names):
    """A BIDS tree written by mne-bids from EEGMAT EDFs (subject = the file's subject number)."""
    from mne_bids import BIDSPath, write_raw_bids

    for name in names:
        raw = mne.io.read_raw_edf(require_data("eegmat", name), preload=False, verbose="error")
        bp = BIDSPath(subject=name[7:9], task="arithmetic", run=1, datatype="eeg", root=root)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            write_raw_bids(raw, bp, overwrite=True, verbose=False)
    return root


# -- one command over a mixed folder, a BIDS tree and a corrupt file ------------------------------
@pytest.mark.slow
def test_folder_plus_bids_tree_with_a_corrupt_file(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("test.vhdr", "test.vmrk", "test.eeg", "test.edf"):
        shutil.copy(require_data("formats", name), folder / name)
    bad = corrupt_edf(folder)
    shutil.copy(require_data("eegmat", "Subject00_2.edf"), folder / "Subject00_2.edf")
    root = bids_tree(tmp_path / "bids", ["Subject00_2.edf", "Subject01_2.edf"])
    out = tmp_path / "out"

    code = main(["embed", str(folder), "--bids", str(root), "-o", str(out), *CLI])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1  # one recording failed: exit 1 with a summary line naming it
    assert "1 of 6 recordings failed" in err[-1] and "corrupt.edf" in err[-1]

    table = read_manifest(out)
    assert len(table) == 6 and set(table["status"]) == {"done", "failed"}
    failed = table[table["status"] == "failed"].iloc[0]
    assert failed["source"] == str(bad.resolve()) and "mne cannot read it" in failed["cause"]
    done = table[table["status"] == "done"]
    df = rows(out)
    for _, entry in done.iterrows():  # hashes, sizes, counts against the files themselves
        assert entry["sha256"] == sha256(entry["source"]) and entry["size"] == os.path.getsize(entry["source"])
        raw = mne.io.read_raw(entry["source"], preload=False, verbose="error")
        assert entry["duration_s"] == pytest.approx(raw.n_times / raw.info["sfreq"])
        n = int(raw.n_times // round(2.0 * raw.info["sfreq"]))
        assert entry["n_windows"] == n == (df["recording_id"] == entry["recording_id"]).sum()
        assert shard_record(out / entry["shard"])["n_rows"] == n
    # the BIDS entities are columns; the same bytes through BIDS or as a file give the same rows
    bids_rows = df[df["subject"].notna()]
    assert sorted(bids_rows["subject"].unique()) == ["00", "01"] and set(bids_rows["task"]) == {"arithmetic"}
    assert set(bids_rows["run"]) == {"1"}
    as_file = df[df["recording_id"].str.startswith("Subject00_2.edf")]
    as_bids = bids_rows[bids_rows["subject"] == "00"]
    np.testing.assert_array_equal(emb(as_file), emb(as_bids))
    np.testing.assert_array_equal(as_file["onset"].to_numpy(), np.arange(len(as_file)) * 2.0)
    assert df.groupby("subject").size().to_dict() == {"00": 31, "01": 31}  # a probe is one groupby away
    # rows are those of FoundationTransformer.transform(raw) on that file
    raw = mne.io.read_raw(require_data("formats", "test.vhdr"), preload=False, verbose="error")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tr = FoundationTransformer("labram", model_kwargs=TINY, window_seconds=2.0, batch_size=16, random_state=0)
        want = tr.fit(raw).transform(raw)
    finally:
        torch.set_num_threads(before)
    got = df[df["recording_id"].str.startswith("test.vhdr")]
    np.testing.assert_array_equal(emb(got), want)
    np.testing.assert_array_equal(got["start_sample"].to_numpy(), tr.window_starts_)
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "labram" and run["versions"]["braindecode"] and len(run["fingerprint"]) == 64


# -- resume -----------------------------------------------------------------------------------
def test_shard_whose_values_changed_behind_an_intact_footer_is_not_trusted(tmp_path):
    files = [require_data("formats", "test.vhdr")]
    out = tmp_path / "out"
    shard = out / embed_recordings(files, out, **KW)["shard"].iloc[0]
    assert shard_record(shard) is not None
    # what a damaged footer or page header that still parses can give: other values, the same footer
    # record and row count, every page's CRC valid (the pages are written anew)
    table = pq.read_table(shard)
    emb_0 = table.column("emb_0").to_numpy() + 1.0
    table = table.set_column(table.column_names.index("emb_0"), "emb_0", pa.array(emb_0, pa.float32()))
    pq.write_table(table.replace_schema_metadata(pq.read_metadata(shard).metadata), shard,
                   write_page_checksum=True)
    assert pq.read_metadata(shard).num_rows == table.num_rows
    assert shard_record(shard) is None


@pytest.mark.slow
def test_damaged_shard_recomputed_changed_model_refused(tmp_path):
    files = [require_data("formats", "test.vhdr"), require_data("formats", "test.edf")]
    out = tmp_path / "out"
    first = embed_recordings(files, out, **KW)
    assert list(first["action"]) == ["computed", "computed"]
    before = rows(out)
    shard = out / first["shard"].iloc[0]
    data = bytearray(shard.read_bytes())
    # one flipped byte in the values of a middle embedding column (a page's data, which its CRC covers):
    # same size, footer intact (the middle of the file lies in the footer when it lists many columns)
    chunk = pq.read_metadata(shard).row_group(0).column(len(before.columns) // 2)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start + chunk.total_compressed_size - 1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert shard_record(shard) is None
    again = embed_recordings(files, out, **KW)
    assert list(again["action"]) == ["computed", "reused"]  # only the damaged one
    after = rows(out)
    np.testing.assert_array_equal(emb(after), emb(before))
    assert len(read_manifest(out)) == 2 and not list((out / "shards").glob("*.partial"))

    with pytest.raises(ValueError, match=r"random_state: 0 -> 1.*new folder"):
        embed_recordings(files, out, **{**KW, "random_state": 1})
    with pytest.raises(ValueError, match=r"model_kwargs.*new folder"):
        embed_recordings(files, out, **{**KW, "model_kwargs": {**TINY, "num_layers": 2}})
    with pytest.raises(ValueError, match=r"window_seconds: 2.0 -> 1.0"):
        embed_recordings(files, out, **{**KW, "window_seconds": 1.0})


def test_changed_source_recomputed(tmp_path, capsys):
    src = tmp_path / "rec"
    src.mkdir()
    for name in ("test.vhdr", "test.vmrk", "test.eeg"):
        shutil.copy(require_data("formats", name), src / name)
    out = tmp_path / "out"
    first = embed_recordings([src / "test.vhdr"], out, **KW)
    text = (src / "test.vhdr").read_text(encoding="latin-1")
    (src / "test.vhdr").write_text(text + "\n; edited\n", encoding="latin-1")  # new bytes, same recording
    capsys.readouterr()
    again = embed_recordings([src / "test.vhdr"], out, **{**KW, "verbose": 2})
    assert "recordings" in capsys.readouterr().err  # one bar over recordings (verbose=2: even in a log)
    assert again["action"].tolist() == ["computed"] and again["sha256"][0] != first["sha256"][0]
    assert again["sha256"][0] == sha256(src / "test.vhdr")


@pytest.mark.slow
def test_resume_after_a_killed_run_computes_only_the_rest(tmp_path):
    files = [str(require_data("eegmmidb", f"S001R{i:02d}.edf")) for i in range(3, 15)]
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "eegfm_sklearn.cli", "embed", *files, "-o", str(out), *CLI,
            "--on-raw", "mne.datasets.eegbci:standardize"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {json.loads(line)["recording_id"] for line in manifest.read_text().splitlines()}
    assert 2 <= len(finished) < len(files)

    again = embed_recordings(files, out, **KW, on_raw=mne.datasets.eegbci.standardize)
    assert set(again.loc[again["action"] == "reused", "recording_id"]) == finished
    assert (again["action"] == "computed").sum() == len(files) - len(finished)
    assert (again["status"] == "done").all() and not list((out / "shards").glob("*.partial"))
    df = rows(out)
    expected = sum(mne.io.read_raw_edf(f, verbose="error").n_times // 320 for f in files)  # 2 s at 160 Hz
    assert len(df) == again["n_windows"].sum() == expected


# -- parallel -----------------------------------------------------------------------------------
class KillOnce:
    """on_raw hook: on a dask worker, the first recording kills its process (SIGKILL) while its shard
    is half-written."""

    def __init__(self, marker, shards):
        self.marker, self.shards = str(marker), str(shards)

    def __call__(self, raw):
        import threading

        try:
            from distributed import get_worker

            get_worker()
        except ValueError:
            return raw  # not on a dask worker
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return raw

        def kill_when_writing():
            deadline = time.time() + 120
            while time.time() < deadline:
                partial = list(Path(self.shards).glob(f"*.{os.getpid()}.partial"))
                if partial:
                    os.write(fd, f"{os.getpid()} {partial[0].name}".encode())
                    os.close(fd)
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(0.001)

        threading.Thread(target=kill_when_writing, daemon=True).start()
        return raw


@pytest.mark.slow
def test_identical_rows_serially_with_jobs_and_on_a_cluster_that_loses_a_worker(tmp_path):
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test file
    files = [require_data("formats", "test.vhdr"), require_data("eegmat", "Subject00_2.edf"),
             require_data("eegmat", "Subject01_2.edf")]
    hook = KillOnce(tmp_path / "killed", tmp_path / "dask" / "shards")
    serial = embed_recordings(files, tmp_path / "serial", on_raw=hook, **KW)
    jobs = embed_recordings(files, tmp_path / "jobs", on_raw=hook, jobs=2, **KW)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = embed_recordings(files, tmp_path / "dask", on_raw=hook, client=client, **KW)
    killed, partial = (tmp_path / "killed").read_text().split()  # a worker died with its shard half-written
    assert partial.endswith(f".{killed}.partial") and not (tmp_path / "dask" / "shards" / partial).exists()
    assert int(killed) not in {int(w.split(":")[1]) for w in dask["worker"]}  # rescheduled elsewhere
    for table in (serial, jobs, dask):
        assert (table["status"] == "done").all() and len(table) == 3
    assert len({w for w in jobs["worker"]}) >= 1 and all(str(os.getpid()) in w for w in serial["worker"])
    want = rows(tmp_path / "serial")
    for mode in ("jobs", "dask"):
        got = rows(tmp_path / mode)
        assert got.equals(want), mode  # bit-identical rows, entities and onsets
        assert not list((tmp_path / mode / "shards").glob("*.partial"))
    assert len(want) == 3 + 31 + 31


# -- inputs ------------------------------------------------------------------------------------
def test_moabb_subject_missing_locally_is_refused_without_download(tmp_path, monkeypatch, capsys):
    (tmp_path / "mne_data").mkdir()
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "mne_data"))
    monkeypatch.setenv("MNE_DATASETS_BNCI_PATH", str(tmp_path / "mne_data"))
    lookups = []

    def spy(*args, **kwargs):  # a download would start with a name lookup
        lookups.append(args[0])
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    code = main(["embed", "--moabb", "BNCI2015_003", "--subjects", "1", "-o", str(tmp_path / "out"), *CLI])
    err = capsys.readouterr().err
    assert code == 1 and "not in MOABB's local data folder" in err and "--allow-download" in err, err
    assert lookups == []  # refused before any connection was tried


def test_inputs_expand_folders_globs_and_fail_clearly(tmp_path):
    from eegfm_sklearn.corpus.inputs import expand_inputs, parse_subjects

    recs = expand_inputs([require_data("formats"), str(require_data("eegmmidb")) + "/S001R0[1-3].edf"])
    names = [Path(r.source).name for r in recs]
    assert names == ["test.edf", "test.vhdr", "S001R01.edf", "S001R02.edf", "S001R03.edf"]  # no .eeg/.vmrk
    assert len({r.id for r in recs}) == 5
    assert expand_inputs([require_data("formats", "test.edf")])[0].id == recs[0].id  # stable ids
    with pytest.raises(FileNotFoundError, match="no such file"):
        expand_inputs([tmp_path / "missing.edf"])
    with pytest.raises(FileNotFoundError, match="no recording found"):
        expand_inputs([tmp_path])
    assert parse_subjects("1-3,7") == [1, 2, 3, 7]
    with pytest.raises(ValueError, match="e.g. '1-5,7'"):
        parse_subjects("one")


def test_backbone_built_once_per_process_and_configuration(tmp_path, monkeypatch):
    from eegfm_sklearn.estimators.transformer import FoundationTransformer as FT

    builds = []
    original = FT._build_frozen

    def counting(self, resolved):
        builds.append(self.adapter_.report_.slots)
        return original(self, resolved)

    monkeypatch.setattr(FT, "_build_frozen", counting)
    for i in range(3):  # three recordings with the same channels: one backbone
        folder = tmp_path / f"copy{i}"
        folder.mkdir()
        for name in ("test.vhdr", "test.vmrk", "test.eeg"):
            shutil.copy(require_data("formats", name), folder / name)
    table = embed_recordings(sorted(tmp_path.glob("copy*/test.vhdr")), tmp_path / "out", **KW)
    assert (table["status"] == "done").all() and len(table) == 3
    assert len(builds) == 1
    df = rows(tmp_path / "out")
    parts = [emb(g) for _, g in df.groupby("recording_id")]
    np.testing.assert_array_equal(parts[0], parts[1])  # the shared backbone gives each copy the same rows
    np.testing.assert_array_equal(parts[0], parts[2])


@pytest.mark.parametrize("argv, words", [
    (["-o", "e.npy"], ["nothing to embed"]),
    (["a.edf", "b.edf", "-o", "e.npy"], ["is one file", "output folder"]),
])
def test_cli_corpus_usage_fails_in_one_line(tmp_path, capsys, argv, words):
    code = main(["embed", *argv, *CLI])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and all(w in err[0] for w in words), err
