"""The ``eegfm`` command line: exit codes, outputs equal to the Python API, real files of several formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GroupKFold
from test_benchmarking import separable
from test_card_biot import biot_original

from eegfm_sklearn import FoundationTransformer, benchmark, get_model_card, list_models
from eegfm_sklearn.cli import main
from eegfm_sklearn.weights import originals_dir, resolve_weights

from conftest import require_data

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    """``main(argv)`` in-process: (exit code, stdout, stderr); usage errors exit through SystemExit."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_failure(code, err, *words):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


# -- help and usage ------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["models"], ["embed"], ["benchmark"], ["convert"]])
def test_help_on_each_command(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: eegfm {' '.join(command)}".rstrip())


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["embed", "rec.edf"], "required: -o/--output, --model"),  # no model is chosen for the user
    (["embed", "rec.edf", "--model", "biot"], "required: -o/--output"),
    (["embed", "rec.edf", "--model", "biot", "-o", "out.csv"], "must end with .npy or .parquet"),
    (["embed", "rec.edf", "--model", "biot", "-o", "out.npy", "--window", "four"], "invalid float value"),
    (["embed", "rec.edf", "--model", "biot", "-o", "out.npy", "--model-kwargs", "[1]"], "must be a JSON object"),
    (["benchmark", "--model", "biot", "--data", "d", "--cv", "1"], "'loso'"),
    (["benchmark", "--model", "biot", "--data", "d", "--strategies", "frozen"], "invalid choice"),
    (["convert", "ckpt"], "required: --model, -o/--output"),
    (["fly"], "invalid choice"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err, err


# -- models --------------------------------------------------------------------------------
def test_models_lists_every_card_with_status(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    rows = out.strip().splitlines()[1:]
    assert [r.split()[0] for r in rows] == list_models()
    statuses = list_models(status=True)
    for row in rows:
        assert statuses[row.split()[0]] in row


def test_models_json_marks_checkpoints_found_on_disk(capsys, tmp_path):
    card = get_model_card("biot")
    ckpt = card.get_checkpoint("biot-prest-16-original")
    code, out, _ = run_cli(capsys, "models", "biot", "--json", "--cache-dir", tmp_path)
    info = json.loads(out)
    assert code == 0 and [c["name"] for c in info["checkpoints"]] == [c.name for c in card.checkpoints]
    assert not any(c["on_disk"] for c in info["checkpoints"])
    folder = originals_dir(tmp_path) / ckpt.name
    folder.mkdir(parents=True)
    for name in ckpt.filenames:
        (folder / name).write_bytes(b"placed by hand")
    _, out, _ = run_cli(capsys, "models", "biot", "--json", "--cache-dir", tmp_path)
    on_disk = {c["name"] for c in json.loads(out)["checkpoints"] if c["on_disk"]}
    assert on_disk == {ckpt.name}
    code, out, _ = run_cli(capsys, "models", "biot", "--cache-dir", tmp_path)
    assert code == 0 and f"{ckpt.name} [original]" in out and "on disk" in out


def test_models_unknown_name_fails_in_one_line(capsys):
    code, _, err = run_cli(capsys, "models", "gpt")
    assert_one_line_failure(code, err, "Unknown model 'gpt'", "labram")


# -- embed ---------------------------------------------------------------------------------
EMBED = ["--model", "labram", "--tiny", "--window", "2", "--stride", "1", "--batch-size", "4", "-q"]


def python_api(path, **extra):
    raw = mne.io.read_raw(path, preload=False, verbose="error")
    tr = FoundationTransformer("labram", model_kwargs=dict(get_model_card("labram").tiny_kwargs), random_state=0,
                               window_seconds=2.0, stride_seconds=1.0, batch_size=4, **extra)
    return tr, tr.fit(raw).transform(raw)


@pytest.mark.parametrize("parts", [("formats", "test.edf"), ("formats", "test.vhdr")])
def test_embed_npy_equals_transform_of_the_same_raw(capsys, tmp_path, parts):
    path = require_data(*parts)
    code, out, err = run_cli(capsys, "embed", path, "-o", tmp_path / "emb.npy", *EMBED)
    assert code == 0 and out == ""  # -q: no summary (mne may still log its own warnings on stderr)
    got = np.load(tmp_path / "emb.npy")
    tr, want = python_api(path)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(tr.window_starts_), 200)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npy"]  # no partial file left


def test_embed_parquet_holds_onsets_and_the_same_rows(capsys, tmp_path):
    path = require_data("formats", "test.vhdr")
    raw = mne.io.read_raw(path, preload=False, verbose="error")
    # a bad span: the windows it overlaps are skipped, as in transform
    raw.annotations.append(raw.first_time + 2.5, 1.0, "BAD_motion")
    fif = tmp_path / "annotated_raw.fif"
    raw.save(fif, verbose="error")
    code, out, _ = run_cli(capsys, "embed", fif, "-o", tmp_path / "emb.parquet", *EMBED[:-1])
    assert code == 0
    tr, want = python_api(fif)
    assert tr.n_windows_rejected_ > 0
    assert f"{len(want)} windows of 2 s ({tr.n_windows_rejected_} skipped" in out
    table = pd.read_parquet(tmp_path / "emb.parquet")
    assert list(table.columns[:2]) == ["onset", "start_sample"] and table.shape == (len(want), 2 + 200)
    np.testing.assert_array_equal(table["start_sample"], tr.window_starts_)
    np.testing.assert_allclose(table["onset"], tr.window_onsets_)
    np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(), want, rtol=1e-5, atol=1e-6)


def test_embed_progress_bar_on_request_and_not_by_default_off_a_terminal(capsys, tmp_path):
    path = require_data("formats", "test.vhdr")  # 6 windows of 2 s every 1 s: 3 chunks of 2
    args = ["embed", path, "-o", tmp_path / "emb.npy", *EMBED[:-3], "--batch-size", "2"]
    code, out, err = run_cli(capsys, *args, "--progress")
    # the bar's first render names the total; later renders depend on timing (tqdm's mininterval)
    assert code == 0 and "embedding" in err and "0/3" in err
    assert out.startswith("test.vhdr: 6 windows of 2 s (0 skipped")
    code, _, err = run_cli(capsys, *args)  # stderr is not a terminal here: no bar
    assert code == 0 and "embedding" not in err


def test_embed_eeglab_file_is_read_and_its_channel_names_reported(capsys, tmp_path):
    # the EEGLAB tutorial file names its channels 'EEG 000'... with no positions: no model can place them
    path = require_data("eeglab", "test_raw.set")
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "emb.npy", *EMBED)
    assert_one_line_failure(code, err, "'EEG 000'", "Rename your channels")
    assert not any(tmp_path.iterdir())


def test_embed_failures_exit_1_with_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "embed", tmp_path / "missing.edf", "-o", tmp_path / "e.npy", *EMBED)
    assert_one_line_failure(code, err, "missing.edf: no such file")
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"not an edf file" * 10)
    code, _, err = run_cli(capsys, "embed", garbage, "-o", tmp_path / "e.npy", *EMBED)
    assert_one_line_failure(code, err, "eegfm embed: error:")
    path = require_data("formats", "test.vhdr")
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "e.npy", "--model", "labram",
                           "--weights", "labram-base", "--tiny")
    assert_one_line_failure(code, err, "--tiny", "drop one")
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "e.npy", "--model", "biot",
                           "--weights", "no-such-checkpoint")
    assert_one_line_failure(code, err, "no-such-checkpoint")
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "e.npy", *EMBED[:-5], "--window", "60")
    assert_one_line_failure(code, err, "holds no full 60.0 s window")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.edf"]


# -- benchmark -----------------------------------------------------------------------------
def test_benchmark_command_writes_the_rows_of_benchmark(capsys, tmp_path):
    data = separable()
    npz = tmp_path / "windows.npz"
    np.savez(npz, X=data.X, y=data.y, groups=data.groups, sfreq=data.sfreq, ch_names=data.ch_names)
    code, out, _ = run_cli(capsys, "benchmark", "--model", "biot", "--tiny", "--data", npz, "--cv", "2",
                           "--strategies", "linear", "--baselines", "bandpower", "--max-epochs", "1",
                           "-o", tmp_path / "rows.csv", "--markdown", tmp_path / "summary.md")
    assert code == 0
    rows = pd.read_csv(tmp_path / "rows.csv", dtype={"test_group": str})
    params = {"model_kwargs": dict(get_model_card("biot").tiny_kwargs), "max_epochs": 1, "batch_size": 64,
              "device": "cpu"}
    want = benchmark(["biot"], data, ("linear",), cv=GroupKFold(2), baselines=("bandpower",),
                     model_params={"biot": params})
    pd.testing.assert_frame_equal(rows.drop(columns=["fit_seconds", "score_seconds"]),
                                  want.drop(columns=["fit_seconds", "score_seconds"]))
    summary = (tmp_path / "summary.md").read_text().strip().splitlines()
    assert summary[0].startswith("| model | strategy | balanced_accuracy") and len(summary) == 2 + 2
    assert summary[2].startswith("| bandpower | baseline | ") and summary[3].startswith("| biot | linear | ")
    assert "\n".join(summary) in out


def test_benchmark_on_eegmat_folder(capsys, tmp_path):
    require_data("eegmat", "Subject01_2.edf")
    data_dir = Path(os.environ.get("EEGFM_DATA_DIR", ROOT.parent / "shared" / "data"))
    code, out, _ = run_cli(capsys, "benchmark", "--model", "biot", "--data", data_dir, "--subjects", "0", "1",
                           "--strategies", "--baselines", "bandpower", "-o", tmp_path / "rows.csv")
    assert code == 0
    rows = pd.read_csv(tmp_path / "rows.csv", dtype={"test_group": str})
    assert list(rows["test_group"]) == ["0", "1"] and (rows["n_test"] == 30).all()  # 2 x 60 s / 4 s per subject
    assert "| bandpower | baseline |" in out


def test_benchmark_failures_exit_1(capsys, tmp_path):
    code, _, err = run_cli(capsys, "benchmark", "--model", "biot", "--data", tmp_path)
    assert_one_line_failure(code, err, "no EEGMAT recordings")
    np.savez(tmp_path / "bad.npz", X=np.zeros((2, 3, 4)))
    code, _, err = run_cli(capsys, "benchmark", "--model", "biot", "--data", tmp_path / "bad.npz")
    assert_one_line_failure(code, err, "lacks arrays", "'y'")


# -- convert -------------------------------------------------------------------------------
def test_convert_original_release_to_a_weights_folder(capsys, tmp_path):
    card = get_model_card("biot")
    ckpt = card.get_checkpoint("biot-shhs-prest-18-original")
    torch.manual_seed(0)
    ref = card.for_checkpoint(ckpt).build_module(*ckpt.input_shape, 2,
                                                 slots=card.for_checkpoint(ckpt).channels.slots([])).eval()
    release = tmp_path / ckpt.filenames[0]
    torch.save(biot_original(ref.state_dict()), release)
    code, out, _ = run_cli(capsys, "convert", release, "--model", "biot", "-o", tmp_path / "converted")
    assert code == 0, out
    assert "format 'biot-original'" in out and "coverage: " in out and "ignored" in out
    converted = resolve_weights(tmp_path / "converted", card)
    assert converted.fmt == "braindecode"
    # the contract travels: the folder loads with the release's 18-channel scheme
    assert converted.card.channels.describe() == card.for_checkpoint(ckpt).channels.describe()
    encoder = {k: v for k, v in ref.state_dict().items() if k.startswith("encoder.")}
    assert set(encoder) <= set(converted.state_dict)
    for key, tensor in encoder.items():
        assert torch.equal(converted.state_dict[key], tensor), key

    code, _, err = run_cli(capsys, "convert", release, "--model", "biot", "-o", tmp_path / "converted")
    assert_one_line_failure(code, err, "--force")
    code, _, err = run_cli(capsys, "convert", release, "--model", "labram", "-o", tmp_path / "other")
    assert_one_line_failure(code, err, "eegfm convert: error:")


# -- the installed command -----------------------------------------------------------------
@pytest.mark.slow  # two fresh interpreters
def test_entry_point_declared_and_runs_in_a_subprocess(tmp_path):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"eegfm": "eegfm_sklearn.cli:main"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "ignore"}
    # the script pip installed beside this interpreter (README set-up: pip install -e .)
    script = Path(sys.executable).with_name("eegfm.exe" if os.name == "nt" else "eegfm")
    if not script.is_file():
        pytest.fail(f"{script} is missing: the package is installed without its entry point; run `pip install -e .`")
    ok = subprocess.run([str(script), "models"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout.splitlines()[0].split()[:2] == ["model", "status"]
    failed = subprocess.run([sys.executable, "-m", "eegfm_sklearn.cli", "embed", "absent.edf", "--model", "biot",
                             "-o", "e.npy"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and failed.stderr.strip() == "eegfm embed: error: absent.edf: no such file."


# -- checked before the work, said in the CLI's words (issue 21) -----------------------------
def test_output_problems_are_usage_errors_before_any_work(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "emb.npy"
    folder.mkdir()
    code, _, err = run_cli(capsys, "embed", "rec.edf", "-o", folder, "--model", "biot")
    assert code == 2 and "is a folder" in err, err
    real_find_spec = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "pyarrow" else
                        real_find_spec(name, *a))
    code, _, err = run_cli(capsys, "embed", "rec.edf", "-o", tmp_path / "emb.parquet", "--model", "biot")
    assert code == 2 and "needs pyarrow" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npy"]


def test_unknown_model_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "embed", "rec.edf", "-o", "out.npy", "--model", "eegnet")
    assert code == 2 and "unknown --model eegnet; choose from" in err and "labram" in err, err


def test_errors_name_options_and_stay_one_readable_line(capsys, tmp_path):
    path = require_data("formats", "test.vhdr")
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "e.npy", "--model", "biot",
                           "--weights", "no-such-checkpoint")
    assert_one_line_failure(code, err, "--weights", "no-such-checkpoint")
    assert "weights=" not in err
    assert len(err.strip()) <= 400 + len("eegfm embed: error: "), len(err)


def test_warnings_print_as_one_line_without_source(capsys, tmp_path):
    path = require_data("formats", "test.vhdr")
    # LaBraM's 0.1 Hz high-pass on a 7.9 s recording: mne warns that its filter is longer than the signal
    code, _, err = run_cli(capsys, "embed", path, "-o", tmp_path / "e.npy", "--model", "labram", "--tiny",
                           "--window", "2", "-q")
    assert code == 0, err
    lines = [line for line in err.splitlines() if "warning" in line.lower()]
    assert any(line.startswith("eegfm embed: warning: ") for line in lines), err
    assert len(set(lines)) == len(lines), err  # each warning once, not once per chunk
    assert ".py:" not in err and "warnings.warn" not in err, err


def test_models_table_marks_embeddings_that_grow_with_the_input(capsys):
    code, out, _ = run_cli(capsys, "models")
    row = next(line for line in out.splitlines() if line.startswith("cbramod "))
    assert code == 0 and f"{get_model_card('cbramod').embedding_size}+" in row
    assert "embedding (+ grows with channels x window)" in out.splitlines()[0]
    labram = next(line for line in out.splitlines() if line.startswith("labram "))
    assert "200 " in labram and "200+" not in labram
