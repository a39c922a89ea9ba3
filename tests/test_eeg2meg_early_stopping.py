"""EEGToMEGRegressor's early stopping: a validation block cut from the end of the training windows."""

import numpy as np
import pytest
import torch

from eegfm_sklearn.eeg2meg import EEGToMEGRegressor

# Over-fits fast: many parameters, 20 windows of a noisy target, large steps.
SMALL = dict(mode="continuous", linear_skip=False, d_model=16, n_heads=2, n_encoder_layers=1,
             n_decoder_layers=1, n_routers=2, seg_len=8, batch_size=4, lr=1e-2, random_state=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def noisy():
    """MEG = a linear mix of EEG plus as much noise: the training windows can be memorised, the noise not."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 6, 16))
    Y = np.einsum("oc,nct->not", rng.standard_normal((5, 6)), X) + 2.0 * rng.standard_normal((25, 5, 16))
    return X, Y


def _block_loss(est, X, Y):
    """The continuous mode's loss (MSE of standardised MEG) of the fitted network on (X, Y)."""
    Ys = (Y - est.y_mean_[:, None]) / est.y_scale_[:, None]
    Ps = (est.predict(X) - est.y_mean_[:, None]) / est.y_scale_[:, None]
    return float(np.mean((Ps - Ys) ** 2))


def test_best_epoch_weights_kept_and_validation_block_is_the_tail(noisy):
    X, Y = noisy
    est = EEGToMEGRegressor(**SMALL, max_epochs=25, early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=25).fit(X, Y)
    valid = np.array(est.history_[:, "valid_loss"])
    assert len(valid) == 25  # patience = max_epochs: no stop, only the restore is tested here
    best = int(np.argmin(valid))
    assert best < len(valid) - 1 and valid[-1] > valid[best] * 1.05, "precondition: the validation loss rose"
    # The network ends with the best epoch's weights, and the validation windows are the last 5 (20 % of 25).
    assert _block_loss(est, X[-5:], Y[-5:]) == pytest.approx(valid[best], rel=1e-4)
    assert _block_loss(est, X[:5], Y[:5]) != pytest.approx(valid[best], rel=1e-2)


def test_stops_after_n_iter_no_change_epochs_without_improvement(noisy):
    X, Y = noisy
    est = EEGToMEGRegressor(**SMALL, max_epochs=40, early_stopping=True, validation_fraction=0.2,
                            n_iter_no_change=3).fit(X, Y)
    valid = np.array(est.history_[:, "valid_loss"])
    best = int(np.argmin(valid))
    assert len(valid) < 40
    assert len(valid) == best + 1 + 3


def test_validation_windows_are_not_trained_on(noisy):
    # Reordering the held-out block leaves the channel statistics and the validation loss as they are, so
    # the trained weights are the same; had those windows been trained on, the batches would differ.
    X, Y = noisy
    kw = dict(**SMALL, max_epochs=3, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3)
    order = np.r_[np.arange(20), np.arange(24, 19, -1)]
    a = EEGToMEGRegressor(**kw).fit(X, Y)
    b = EEGToMEGRegressor(**kw).fit(X[order], Y[order])
    for pa, pb in zip(a.module_.state_dict().values(), b.module_.state_dict().values()):
        torch.testing.assert_close(pa, pb)
    order[[0, 24]] = order[[24, 0]]  # one training window swapped with a held-out one: other weights
    c = EEGToMEGRegressor(**kw).fit(X[order], Y[order])
    assert not torch.allclose(a.module_.head.weight, c.module_.head.weight)


def test_without_early_stopping_no_validation_and_all_windows_trained(noisy):
    X, Y = noisy
    est = EEGToMEGRegressor(**SMALL, max_epochs=2).fit(X, Y)
    assert "valid_loss" not in est.history_[-1]


def test_token_mode_early_stopping_records_cross_entropy(noisy):
    X, Y = noisy
    est = EEGToMEGRegressor(mode="tokens", d_model=16, n_heads=2, n_encoder_layers=0, n_decoder_layers=1,
                            n_routers=2, d_ff=16, max_epochs=2, batch_size=8, random_state=0,
                            early_stopping=True, validation_fraction=0.2).fit(X, Y)
    valid = np.array(est.history_[:, "valid_loss"])
    assert est.token_cross_entropy(X[-5:], Y[-5:]) == pytest.approx(valid.min(), rel=1e-4)


@pytest.mark.parametrize("n, fraction", [(2, 0.9), (3, 0.01 + 2 / 3)])
def test_too_few_windows_for_the_split_is_an_error(n, fraction, noisy):
    X, Y = noisy
    with pytest.raises(ValueError, match="training and .* validation windows.*pass more windows"):
        EEGToMEGRegressor(**SMALL, max_epochs=1, early_stopping=True, validation_fraction=fraction).fit(X[:n], Y[:n])


@pytest.mark.parametrize("name, value", [("validation_fraction", 1.0), ("validation_fraction", 0.0),
                                         ("n_iter_no_change", 0), ("early_stopping", "yes")])
def test_parameters_checked(name, value, noisy):
    with pytest.raises(ValueError, match=rf"'{name}' parameter of EEGToMEGRegressor must be"):
        EEGToMEGRegressor(**SMALL, **{name: value}).fit(*noisy)

