"""The EEGMAT fetcher: data folder first, else download (tested on 127.0.0.1)."""

import functools
import http.server
import shutil
import threading

import mne
import numpy as np
import pytest

from eegfm_sklearn.datasets import fetch_eegmat, load_eegmat

from conftest import require_data


@pytest.fixture
def eegmat_server(tmp_path):
    """A local HTTP server holding a copy of subject 0's two files."""
    served = tmp_path / "served"
    served.mkdir()
    for run in (1, 2):
        shutil.copy(require_data("eegmat", f"Subject00_{run}.edf"), served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_when_missing_then_reuse(eegmat_server, tmp_path, monkeypatch):
    served, url = eegmat_server
    monkeypatch.setenv("EEGFM_EEGMAT_URL", url)
    target = tmp_path / "data"
    paths = fetch_eegmat([0], data_dir=target)
    assert paths[(0, 1)].read_bytes() == (served / "Subject00_1.edf").read_bytes()
    (served / "Subject00_1.edf").unlink()  # a second call must not download again
    again = fetch_eegmat([0], data_dir=target)
    assert again == paths
    data = load_eegmat([0], data_dir=target, download=False)
    assert data.X.shape == (30, 19, 2000) and list(np.unique(data.y)) == ["arithmetic", "rest"]


def test_download_with_wrong_checksum_is_refused(eegmat_server, tmp_path, monkeypatch):
    served, url = eegmat_server
    (served / "Subject00_2.edf").write_bytes(b"not the PhysioNet file")
    monkeypatch.setenv("EEGFM_EEGMAT_URL", url)
    with pytest.raises(ValueError, match="SHA256 hash of downloaded file"):
        fetch_eegmat([0], data_dir=tmp_path / "data")


def test_missing_without_download_and_bad_subject(tmp_path):
    with pytest.raises(FileNotFoundError, match="EEGFM_DATA_DIR"):
        fetch_eegmat([0], data_dir=tmp_path, download=False)
    with pytest.raises(ValueError, match="subjects 0-35"):
        fetch_eegmat([40], data_dir=tmp_path, download=False)


def test_data_folder_is_the_argument_else_the_variable_else_shared_data(monkeypatch, tmp_path):
    # Three folders, each holding subject 0's files; which one is read depends on the lookup order.
    folders = {name: tmp_path / name for name in ("explicit", "from_env", "shared/data")}
    for folder in folders.values():
        (folder / "eegmat").mkdir(parents=True)
        for run in (1, 2):
            shutil.copy(require_data("eegmat", f"Subject00_{run}.edf"), folder / "eegmat")
    monkeypatch.setenv("EEGFM_DATA_DIR", str(folders["from_env"]))
    monkeypatch.chdir(tmp_path / "shared")  # ../shared/data from here is folders["shared/data"]
    assert fetch_eegmat([0], download=False)[(0, 1)] == folders["from_env"] / "eegmat" / "Subject00_1.edf"
    assert fetch_eegmat([0], data_dir=folders["explicit"], download=False)[(0, 2)] == (
        folders["explicit"] / "eegmat" / "Subject00_2.edf")
    monkeypatch.delenv("EEGFM_DATA_DIR")
    assert fetch_eegmat([0], download=False)[(0, 1)] == folders["shared/data"] / "eegmat" / "Subject00_1.edf"
    # nothing set and no ../shared/data: the files are looked for (and would be fetched) in ~/eegfm_data
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "elsewhere" / "cwd").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "elsewhere" / "cwd")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "home" / "eegfm_data" / "eegmat")):
        fetch_eegmat([0], download=False)


def test_windows_are_the_last_minute_of_each_file_in_microvolts(eegmat):
    # 60 s / 4 s = 15 windows per file, 2 files per subject, 10 subjects
    assert eegmat.X.shape == (300, 19, 2000)
    assert np.all(np.bincount(eegmat.groups) == 30)
    assert eegmat.units == "uV" and eegmat.sfreq == 500
    # The windows of subject 3's arithmetic run are its EDF's last 60 s, cut in order: read the
    # file with mne directly and compare (EDF stores volts; the loader returns µV).
    raw = mne.io.read_raw_edf(require_data("eegmat", "Subject03_2.edf"), preload=True, verbose=False)
    scalp = [n for n in raw.ch_names if n.startswith("EEG") and "-" not in n]
    assert eegmat.ch_names == scalp and len(scalp) == 19 and "EEG T3" in scalp  # old 10-20 names kept
    last_minute = raw.get_data(picks=scalp)[:, -30_000:] * 1e6
    mine = eegmat.X[(eegmat.groups == 3) & (eegmat.y == "arithmetic")]
    np.testing.assert_allclose(np.concatenate(list(mine), axis=1), last_minute, rtol=1e-12, atol=1e-9)
    rest = eegmat.X[(eegmat.groups == 3) & (eegmat.y == "rest")]
    assert not np.allclose(rest, mine)  # each run's windows come from its own file
