"""Quickstart: a foundation-model pipeline, leave-one-subject-out, on EEGMAT.
==========================================================================

EEGMAT (PhysioNet "eegmat") holds resting and mental-arithmetic EEG of 36
subjects. The recordings are read from ``$EEGFM_DATA_DIR/eegmat`` (unset: ``../shared/data``
if that folder exists, else ``~/eegfm_data``) and downloaded from PhysioNet when
absent; without them and without network the script says where it looked and
how to provide them, and exits with status 1.

The foundation model below runs with ``weights=None`` (random weights)
unless you pass ``--weights`` (e.g. ``labram-base`` or a local checkpoint):
pretrained files cannot be downloaded everywhere. A classical log band-power
baseline is scored in the same folds for reference.

Run::

    python examples/quickstart_eegmat.py --model labram --subjects 10

``--smoke`` runs the smallest setting (2 subjects, the card's tiny
architecture) in seconds; the test suite runs it.
"""

import argparse
import sys
import time

import numpy as np

from eegfm_sklearn import get_model_card
from eegfm_sklearn.datasets import DataNotFoundError, load_eegmat
from eegfm_sklearn.weights.errors import WeightsError

# torch, scikit-learn and pandas are imported in main() once the recordings are found: without
# them the script stops in about a second instead of after loading the models' libraries.


def log_band_power(X, sfreq=500.0):
    """Log power in delta..beta bands, per channel: (n, n_chans * 4)."""
    from scipy.signal import welch

    freqs, psd = welch(X, fs=sfreq, nperseg=int(sfreq), axis=-1)
    bands = [(1, 4), (4, 8), (8, 13), (13, 30)]
    power = [psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in bands]
    return np.log(np.stack(power, axis=-1)).reshape(len(X), -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="labram")
    parser.add_argument("--weights", default=None, help="checkpoint (registry name, hub repo, path)")
    parser.add_argument("--subjects", type=int, default=10, help="first N subjects (max 36)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--smoke", action="store_true",
                        help="smallest setting, runs in seconds: 2 subjects, tiny architecture")
    args = parser.parse_args()
    if args.smoke:
        args.subjects = 2
    model_kwargs = dict(get_model_card(args.model).tiny_kwargs) if args.smoke else None

    data = load_eegmat(subjects=range(args.subjects), window_seconds=4.0, data_dir=args.data_dir)
    print(f"EEGMAT: {len(data.y)} windows of {data.X.shape[1]} channels x {data.X.shape[2]} samples "
          f"at {data.sfreq:g} Hz from {args.subjects} subjects")

    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from eegfm_sklearn import FoundationTransformer

    # cache="memory": each window is embedded once, whatever the number of folds
    encoder = FoundationTransformer(args.model, weights=args.weights, sfreq=data.sfreq,
                                    ch_names=data.ch_names, units=data.units, random_state=0,
                                    cache="memory", model_kwargs=model_kwargs)
    pipelines = {
        f"{args.model} ({args.weights or 'random weights'}) + LR":
            make_pipeline(encoder, StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
        "log band power + LR": make_pipeline(FunctionTransformer(log_band_power), StandardScaler(),
                                             LogisticRegression(max_iter=2000)),
    }
    print(encoder.fit(data.X[:2]).describe_preprocessing())

    table = {}
    for name, pipe in pipelines.items():
        start = time.perf_counter()
        pred = cross_val_predict(pipe, data.X, data.y, groups=data.groups, cv=LeaveOneGroupOut())
        table[name] = {f"S{s:02d}": balanced_accuracy_score(data.y[data.groups == s], pred[data.groups == s])
                       for s in np.unique(data.groups)}
        table[name]["mean"] = np.mean(list(table[name].values()))
        print(f"{name}: {time.perf_counter() - start:.1f} s")
    print("\nBalanced accuracy per held-out subject (leave-one-subject-out):")
    print(pd.DataFrame(table).round(3).to_string())


if __name__ == "__main__":
    try:
        main()
    except (DataNotFoundError, WeightsError) as err:  # what is missing and how to provide it
        sys.exit(f"error: {err}")
