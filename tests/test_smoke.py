"""Every example and benchmark runs, at its smallest setting (``--smoke``), as a user would run it.

Each script runs in a fresh interpreter from the project root, with this checkout first on the
path; the test checks the exit code and the shape of what the script prints (its numbers are
not judged: the smallest settings are too small for that).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eegfm_sklearn import list_models

from conftest import require_data

pytestmark = [pytest.mark.smoke, pytest.mark.slow]  # each runs a script in a fresh interpreter
ROOT = Path(__file__).resolve().parents[1]
FLOAT = r"-?\d+\.\d+"


def run_script(path, *args, timeout=1200):
    """Run ``python path args`` from the project root; return its stdout (fails on a non-zero exit).

    The timeout only guards against a hang: each script takes seconds on an idle 2-core box.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(ROOT / path), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{path} exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc.stdout


def accuracy_over(n, printed, decimals=2):
    """Whether ``printed`` is some k / n rounded to ``decimals``: an accuracy over ``n`` windows."""
    return any(round(k / n, decimals) == round(printed, decimals) for k in range(n + 1))


# A process that imported torch and braindecode holds far more than this (peak RSS, MB): a smaller
# figure means the measurement is wrong (bytes for kilobytes, another process measured).
MIN_PLAUSIBLE_RSS_MB = 100


def table_rows(out):
    """The rows of the Markdown tables in ``out``, as lists of cell strings (header lines excluded)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in out.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    return [r for r in rows if r[0] not in ("data", "model", "Backbone")]


@pytest.fixture
def eegmat_files():
    require_data("eegmat", "Subject00_1.edf")
    require_data("eegmat", "Subject01_2.edf")


@pytest.fixture
def eeg_meg_files():
    for name in ("test-ave.fif.gz", "sample_audvis_trunc_raw_sss.fif", "neuromag306_raw_v7.mat"):
        require_data("eeg_meg", name)


# -- examples ------------------------------------------------------------------------
def readme_use_snippet():
    """The Python block of the README's "Use" section, as written."""
    section = (ROOT / "README.md").read_text().split("\n## Use\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_readme_use_snippet_runs_and_prints_its_scores(eegmat_files, tmp_path):
    require_data("eegmat", "Subject03_2.edf")
    script = tmp_path / "readme_use.py"
    script.write_text(readme_use_snippet())
    out = run_script(script)
    per_subject = re.search(r"^accuracy per held-out subject: \[([\d. ]+)\] mean: (\d\.\d+)$", out, re.M)
    scores = [float(v) for v in per_subject[1].split()]
    assert len(scores) == 4 and all(0 <= v <= 1 for v in scores)
    assert abs(float(per_subject[2]) - sum(scores) / 4) <= 0.0101  # the mean of the printed (rounded) scores
    assert "biot: input 500 Hz, 19 channels, uV" in out  # verbose=1: the preprocessing
    epochs = re.findall(r"^\s+(\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)$", out, re.M)  # epoch, train_loss, dur
    max_epochs = int(re.search(r"max_epochs=(\d+)", readme_use_snippet())[1])
    assert [int(e[0]) for e in epochs] == list(range(1, max_epochs + 1))
    assert 0 <= float(re.search(r"^accuracy on held-out subject 3: (\d\.\d+)$", out, re.M)[1]) <= 1
    assert re.search(r"^FP1-F7\s+derived\s+EEG Fp1 - EEG F7$", out, re.M)  # the channel report


def test_readme_quickstart(eegmat_files):
    out = run_script("examples/quickstart_eegmat.py", "--smoke")
    assert "EEGMAT: 60 windows of 19 channels x 2000 samples at 500 Hz from 2 subjects" in out
    table = out.split("leave-one-subject-out):")[1].strip().splitlines()
    assert "labram (random weights) + LR" in table[0] and "log band power + LR" in table[0]
    assert [line.split()[0] for line in table[1:]] == ["S00", "S01", "mean"]
    rows = [[float(v) for v in line.split()[1:]] for line in table[1:]]
    assert all(len(r) == 2 for r in rows)
    # each held-out subject's score is an accuracy over its 30 windows; the last row their mean
    assert all(accuracy_over(30, s) for r in rows[:2] for s in r), rows
    assert all(abs(rows[2][j] - (rows[0][j] + rows[1][j]) / 2) <= 0.0101 for j in range(2)), rows


def test_example_eeg_to_meg(eeg_meg_files):
    out = run_script("examples/eeg_to_meg.py", "--smoke")
    assert "EEG windows (20, 60, 100) MEG windows (20, 306, 100)" in out
    for name in ("ridge, instantaneous", "ridge, lags +-6", "transformer"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert re.search(rf"\{{'all': {FLOAT}, 'mag': {FLOAT}, 'grad': {FLOAT}\}} \(R\^2\)$", line), line
    assert "identical predictions" in out


def test_example_moabb_fake_evaluation():
    out = run_script("examples/moabb_fake_evaluation.py", "--smoke")
    head, summary = out.split("Mean ROC AUC")
    rows = [line.split() for line in head.strip().splitlines()[1:]]
    # within-session: 2 subjects x 1 session; cross-subject: 2 subjects; x 2 pipelines
    assert len(rows) == 8 and {r[0] for r in rows} == {"WithinSession", "CrossSubject"}
    assert all(0 <= float(r[-3]) <= 1 for r in rows)  # the ROC AUC column
    assert summary.count("LaBraM embeddings + LR") == 2 and summary.count("BIOT fine-tuned") == 2


# -- benchmarks ----------------------------------------------------------------------
def test_bench_transform(eegmat_files):
    out = run_script("benchmarks/bench_transform.py", "--smoke")
    assert "data: 4 windows x 19 ch x 2000 samples at 500 Hz" in out
    rows = table_rows(out)
    assert [r[0] for r in rows] == list_models()  # every card, by default
    # adapter share of the forward, by wall time and by CPU time
    assert all(len(r) == 14 and r[10].endswith("%") and r[-1].endswith("%") for r in rows)


def test_bench_fused(eegmat_files):
    out = run_script("benchmarks/bench_fused.py", "--smoke")
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["signal_jepa", "pbt"]
    # both cards fused at 500 Hz; blocks of windows agree bit for bit with one product per window
    assert all(len(r) == 7 and r[1] in ("2000 x 512", "2000 x 960") and r[-1] == "True" for r in rows), rows


def test_bench_cache(eegmat_files):
    out = run_script("benchmarks/bench_cache.py", "--smoke")
    assert out.startswith("labram (tiny), 60 windows")
    rows = [line for line in out.splitlines() if re.search(rf"{FLOAT}\s+{FLOAT}$", line)]
    assert len(rows) == 8 and rows[0].startswith("one embedding pass") and rows[0].endswith("1.00")
    assert rows[3].strip().startswith("again (warm cache: fixed costs)")
    assert rows[4].strip().startswith("the classifier alone")
    assert rows[6].startswith("2-fold CV, cache=<dir>, n_jobs=2")


def test_bench_streaming(eegmat_files):
    out = run_script("benchmarks/bench_streaming.py", "--smoke")
    row = out.strip().splitlines()[-1].split()
    assert out.startswith("labram (tiny)") and row[:2] == ["0.5", "7"]  # 30 s in 4 s windows
    assert float(row[2]) > 0 and float(row[3]) > MIN_PLAUSIBLE_RSS_MB  # seconds, peak RSS (MB)


@pytest.mark.slow  # starts joblib workers and a 2-worker LocalCluster
def test_bench_corpus(eegmat_files):
    out = run_script("benchmarks/bench_corpus.py", "--smoke")
    assert out.startswith("labram (tiny), 2 EEGMAT recordings")
    modes = [line.split()[0] for line in out.splitlines()
             if re.search(rf"{FLOAT}\s+{FLOAT}\s+{FLOAT}\s+{FLOAT}$", line)]
    assert modes == ["serial", "jobs=2", "jobs=2", "dask", "dask"]
    assert re.search(rf"bookkeeping / embedding: {FLOAT} %", out)


def test_bench_finetune(eegmat_files):
    out = run_script("benchmarks/bench_finetune.py", "--smoke")
    rows = table_rows(out)
    assert [(r[0], r[1]) for r in rows] == [
        ("-", "log band-power + LogReg"), ("-", "Cov + TangentSpace + LogReg"),
        ("biot", "linear"), ("biot", "full"), ("biot", "lora")]
    assert all(re.fullmatch(rf"{FLOAT} ± {FLOAT}", r[4]) for r in rows)


def test_bench_finetune_epoch(eegmat_files):
    out = run_script("benchmarks/bench_finetune_epoch.py", "--smoke")
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["biot", "labram"] and all(len(r) == 9 for r in rows)
    for r in rows:  # windows, batch; wall: ours, hand-written loop, ratio; CPU: the same
        assert (r[1], r[2]) == ("8", "4")
        for ours, hand, ratio in (map(float, r[3:6]), map(float, r[6:9])):
            assert ours > 0 and hand > 0
            rounding = 0.0005 * (1 / hand + ours / hand**2) + 0.0005  # of the printed (rounded) values
            assert abs(ratio - ours / hand) <= rounding, r


def test_bench_compile(eegmat_files):
    out = run_script("benchmarks/bench_compile.py", "--smoke")
    assert out.startswith("tiny models, EEGMAT windows of 4 s at 500 Hz")
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["biot"] and len(rows[0]) == 11
    r = rows[0]
    assert r[1] == "2"
    if r[2].startswith("failed: "):  # no working compiler here: the row says why, the figures are left out
        assert r[3:] == ["-"] * 8
        return
    assert float(r[2]) > 0  # compile seconds
    for eager, compiled, ratio in ((r[3], r[4], r[5]), (r[6], r[7], r[8])):  # windows/s by wall, by CPU
        eager, compiled, ratio = float(eager), float(compiled), float(ratio)
        assert eager > 0 and compiled > 0
        assert abs(ratio - compiled / eager) <= 0.0005 + 0.005 * (1 / eager + compiled / eager**2), r
    assert float(r[9]) < 1e-3 * float(r[10])  # compiled embeddings equal eager ones up to float rounding


def test_bench_eeg2meg(eeg_meg_files, eegmat_files):
    out = run_script("benchmarks/bench_eeg2meg.py", "--smoke")
    rows = table_rows(out)
    models = ["ridge, instantaneous", "ridge, lags +-2", "reduced-rank ridge, lags +-2", "continuous (ridge skip)",
              "continuous, pure (no skip)", "tokens (Brainformer)"]
    # Simulated: 6 models x 2 test sets (new recordings, new source configurations); 3 real files x 6 models;
    # then the ladder's two rungs x 4 models.
    assert len(rows) == 38 and all(len(r) == 15 for r in rows)
    assert [r[0] for r in rows[:30:6]] == ["sim, configs [0] x 4 s"] * 2 + [
        "test-ave (evoked, 600 Hz)", "fieldtrip raw (300 Hz)", "sss raw (300 Hz)"]
    assert [r[0] for r in rows[30::4]] == ["ladder (a): instantaneous mix", "ladder (b): 5-tap FIR mix"]
    assert [r[2] for r in rows[30:34]] == ["ridge, instantaneous", "ridge, lags +-2", "continuous, no skip", "tokens"]
    assert [r[1] for r in rows[:2]] == ["new recordings, same configs", "configs [10]"]
    # Rung (c): the networks without a ridge path under the clean protocol, one row per seed (--smoke: seed 0).
    sim_models = models[:4] + ["continuous, pure (no skip), seed 0", "tokens (Brainformer), seed 0"]
    assert [r[2] for r in rows[:12:2]] == sim_models and [r[2] for r in rows[12:18]] == models
    # fit CPU s, fit wall s, predict windows per CPU s and per wall s
    assert all(re.fullmatch(FLOAT, c) for r in rows[:30] for c in r[3:9] + [r[10], r[11], r[13], r[14]])
    # The ladder's target has one channel type: its "grad" columns are empty.
    assert all(re.fullmatch(FLOAT, c) for r in rows[30:] for c in r[3:7] + [r[10], r[11], r[13], r[14]])
    assert all(r[7] == r[8] == "-" for r in rows[30:])
    # The held-out token cross-entropy is reported for token models only; epoch cost for networks only.
    assert all(re.fullmatch(FLOAT, r[9]) if r[2].startswith("tokens") else r[9] == "-" for r in rows)
    assert all(re.fullmatch(FLOAT, r[12]) if r[2].startswith(("continuous", "tokens")) else r[12] == "-" for r in rows)


def test_bench_embed_memory():
    out = run_script("benchmarks/bench_embed_memory.py", "--smoke")
    lines = out.strip().splitlines()
    assert lines[0].startswith("eegfm embed, labram (tiny)")
    rows = [line.split() for line in lines[2:4]]
    assert [r[0] for r in rows] == ["0.5", "2"] and [r[2] for r in rows] == ["7", "30"]  # 4 s windows
    rss = [float(r[4]) for r in rows]  # peak RSS, MB
    assert all(float(r[3]) > 0 for r in rows) and min(rss) > MIN_PLAUSIBLE_RSS_MB
    # The claim: memory does not grow with the recording (4x longer here), within 100 MB.
    diff = re.fullmatch(r"difference \(long - short\): ([+-]\d+) MB; within 100 MB: yes", lines[4])
    assert diff, lines[4]
    assert abs(int(diff[1]) - (rss[1] - rss[0])) <= 1 and abs(int(diff[1])) <= 100
