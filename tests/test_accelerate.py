"""Fine-tuning through Hugging Face accelerate: 2 CPU processes (``accelerate launch``) vs 1."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_data

JOB = Path(__file__).parent / "jobs" / "accelerate_fit.py"


def _run(cmd, tmp_path):
    from eegfm_sklearn.utils._data_dir import get_data_dir

    env = {**os.environ, "OMP_NUM_THREADS": "1", "EEGFM_DATA_DIR": str(get_data_dir().resolve())}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path):
    require_data("eegmat", "Subject00_1.edf")
    _run([sys.executable, str(JOB), str(tmp_path / "one.npz")], tmp_path)
    _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
          "--main_process_port", "29541", str(JOB), str(tmp_path / "two.npz")], tmp_path)
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    other = np.load(tmp_path / "two.rank1.npz")
    assert (int(one["num_processes"]), int(two["num_processes"]), int(other["num_processes"])) == (1, 2, 2)
    one, two, other = one["proba"], two["proba"], other["proba"]
    assert one.shape == two.shape == other.shape == (60, 2)
    # Gradients all-reduced: both processes take the same steps from the same weights, so their
    # models agree to float rounding. Left unsynchronised (each process stepping on its half of
    # every batch), the two models differed by 0.08 in probability: this is the check that catches it.
    np.testing.assert_allclose(two, other, rtol=0, atol=1e-6)
    # Against one process: same initial weights and seeded batches, but the gap is larger than
    # reduction order alone explains (0.028 measured; unsynchronised gradients gave 0.040), so this
    # stays a loose sanity bound; the check above is the one about synchronisation.
    assert np.abs(one - two).max() < 0.05
    assert np.mean(one.argmax(1) == two.argmax(1)) >= 0.9
