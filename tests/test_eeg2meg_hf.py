"""EEG->MEG networks as transformers models: Auto classes, Trainer, one folder layout both ways."""

import itertools

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, Trainer, TrainingArguments

from eegfm_sklearn.eeg2meg import EEGToMEGRegressor, EEGToMEGTransformer
from eegfm_sklearn.eeg2meg.hf import EEGToMEGConfig, EEGToMEGModel, register

TINY_NET = {"seg_len": 4, "d_model": 8, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1, "n_routers": 2,
            "skip_lags": 1}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _toy(n=32, seed=0):
    """Standardised EEG and a MEG that is a fixed lagged linear mix of it: learnable."""
    rng = np.random.default_rng(seed)
    eeg = rng.standard_normal((n, 5, 16)).astype(np.float32)
    W = rng.standard_normal((3, 5)).astype(np.float32) / np.sqrt(5)
    meg = np.einsum("oc,nct->not", W, eeg)
    meg[..., 1:] += 0.5 * np.einsum("oc,nct->not", W[::-1], eeg[..., :-1])
    return torch.from_numpy(eeg), torch.from_numpy(meg)


class PairedDataset(torch.utils.data.Dataset):
    def __init__(self, eeg, meg):
        self.eeg, self.meg = eeg, meg

    def __len__(self):
        return len(self.eeg)

    def __getitem__(self, i):
        return {"eeg": self.eeg[i], "labels": self.meg[i]}


def _model(seed=0):
    torch.manual_seed(seed)
    return EEGToMEGModel(EEGToMEGConfig(mode="continuous", n_chans_in=5, n_chans_out=3, **TINY_NET)).eval()


def test_registered_with_the_auto_classes_and_registration_is_idempotent():
    register()
    register()  # a second registration (e.g. a re-import) must not fail
    config = AutoConfig.for_model("eeg2meg", n_chans_in=5, n_chans_out=3, **TINY_NET)
    assert type(config) is EEGToMEGConfig and config.mode == "continuous"
    model = AutoModel.from_config(config)
    assert type(model) is EEGToMEGModel and type(model.network) is EEGToMEGTransformer
    # The config is completed with the network's defaults, so config.json says everything.
    assert model.config.dropout == 0.0 and model.config.linear_skip is True
    with pytest.raises(ValueError, match=r"needs \['n_chans_in', 'n_chans_out'\]"):
        EEGToMEGModel(EEGToMEGConfig())


def test_forward_returns_the_mode_loss():
    model = _model()
    eeg, meg = _toy(4)
    out = model(eeg, labels=meg)
    pred = model(eeg).prediction
    assert pred.shape == meg.shape and model(eeg).loss is None
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(pred, meg))


def test_trainer_trains_it_as_is(tmp_path):
    model = _model()
    eeg, meg = _toy(32)
    with torch.no_grad():
        before = model(eeg, labels=meg).loss.item()
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=40, per_device_train_batch_size=8, learning_rate=1e-2,
        logging_steps=10, report_to=[], use_cpu=True, save_strategy="no", seed=0, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=PairedDataset(eeg, meg))
    trainer.train()
    model.eval()
    with torch.no_grad():
        after = model(eeg, labels=meg).loss.item()
    # The loss Trainer logs comes from forward(eeg, labels=...) and falls as it trains.
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 4 and all(a > b for a, b in itertools.pairwise(logged)), logged
    # Same batch, same loss function, before and after: at most half of the initial loss left.
    assert after < 0.5 * before, (before, after)


def _with_stats(model, seed=1):
    """Channel statistics as an estimator would store them (SI-like scales)."""
    rng = np.random.default_rng(seed)
    model.network.set_channel_stats(
        x_mean=rng.standard_normal(5) * 1e-6, x_scale=rng.uniform(1, 2, 5) * 1e-5,
        y_mean=rng.standard_normal(3) * 1e-13, y_scale=rng.uniform(1, 2, 3) * 1e-12,
    )
    return model


def test_save_pretrained_auto_from_pretrained_identical(tmp_path):
    model = _with_stats(_model())
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    assert type(AutoConfig.from_pretrained(tmp_path)) is EEGToMEGConfig
    back = AutoModel.from_pretrained(tmp_path).eval()
    assert type(back) is EEGToMEGModel
    eeg, _ = _toy(6)
    with torch.no_grad():
        torch.testing.assert_close(back(eeg).prediction, model(eeg).prediction, rtol=0, atol=0)
    for name, value in model.network.channel_stats().items():  # float64, exactly
        np.testing.assert_array_equal(back.network.channel_stats()[name], value)


def test_transformers_folder_loads_into_the_estimator(tmp_path):
    model = _with_stats(_model())
    model.save_pretrained(tmp_path)
    est = EEGToMEGRegressor.from_pretrained(tmp_path)
    assert est.mode == "continuous" and est.d_model == TINY_NET["d_model"] and est.history_ is None
    X = np.random.default_rng(2).standard_normal((6, 5, 16)) * 1e-5  # EEG in volts
    with torch.no_grad():
        expected = model.network.predict_si(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(est.predict(X), expected)


def test_estimator_folder_loads_with_automodel(tmp_path):
    eeg, meg = _toy(16)
    X, Y = eeg.double().numpy() * 1e-5, meg.double().numpy() * 1e-12
    est = EEGToMEGRegressor(**TINY_NET, max_epochs=1, batch_size=8, random_state=0).fit(X, Y)
    est.save_pretrained(tmp_path)
    model = AutoModel.from_pretrained(tmp_path).eval()
    assert type(model) is EEGToMEGModel and model.config.d_model == TINY_NET["d_model"]
    Xs = torch.from_numpy(((X - est.x_mean_[:, None]) / est.x_scale_[:, None]).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(model(Xs).prediction, est.module_(Xs), rtol=0, atol=0)
        np.testing.assert_array_equal(model.network.predict_si(torch.from_numpy(X)).numpy(), est.predict(X))
    # and back: the transformers model's own folder gives the same estimator predictions
    model.save_pretrained(tmp_path / "again")
    np.testing.assert_array_equal(EEGToMEGRegressor.from_pretrained(tmp_path / "again").predict(X), est.predict(X))

