"""The EEGMAT fetcher: data folder first, else download (tested on 127.0.0.1)."""

import functools
import http.server
import shutil
import threading

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


def test_data_dir_env_var(monkeypatch, tmp_path):
    from eegfm_sklearn._data_dir import get_data_dir

    monkeypatch.setenv("EEGFM_DATA_DIR", str(tmp_path))
    assert get_data_dir() == tmp_path
    assert get_data_dir(tmp_path / "x") == tmp_path / "x"


def test_windows_come_from_the_last_minute(eegmat):
    # 60 s / 4 s = 15 windows per file, 2 files per subject, 10 subjects
    assert eegmat.X.shape == (300, 19, 2000)
    assert np.all(np.bincount(eegmat.groups) == 30)
    assert eegmat.ch_names[6] == "EEG T3" and eegmat.units == "uV"
