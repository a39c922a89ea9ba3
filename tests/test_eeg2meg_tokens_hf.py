"""Token mode through the transformers integration: loss, Trainer, folders both ways."""

import numpy as np
import pytest
import torch
from transformers import (  # the hf extra is in the test extra
    AutoModel,
    Trainer,
    TrainingArguments,
)

from eegfm_sklearn.eeg2meg import BrainformerNetwork, EEGToMEGRegressor
from eegfm_sklearn.eeg2meg.brainformer import token_cross_entropy
from eegfm_sklearn.eeg2meg.hf import EEGToMEGConfig, EEGToMEGModel

TINY = {"d_model": 8, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1, "n_routers": 2, "d_ff": 16,
        "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _pairs(n=16, seed=0):
    """Standardised EEG and a MEG that copies EEG channel 0 (learnable through the same-step cross-attention)."""
    rng = np.random.default_rng(seed)
    eeg = rng.standard_normal((n, 4, 10)).astype(np.float32)
    meg = np.repeat(eeg[:, :1], 3, axis=1)
    return torch.from_numpy(eeg), torch.from_numpy(meg)


def _model(eeg, meg, seed=0):
    torch.manual_seed(seed)
    model = EEGToMEGModel(EEGToMEGConfig(mode="tokens", n_chans_in=4, n_chans_out=3, max_len=10, **TINY))
    model.network.prepare(eeg.numpy(), meg.numpy())  # the robust scaling, as the estimator's fit does
    return model.eval()


class PairedDataset(torch.utils.data.Dataset):
    def __init__(self, eeg, meg):
        self.eeg, self.meg = eeg, meg

    def __len__(self):
        return len(self.eeg)

    def __getitem__(self, i):
        return {"eeg": self.eeg[i], "labels": self.meg[i]}


def test_token_model_forward_gives_the_cross_entropy():
    eeg, meg = _pairs(4)
    model = _model(eeg, meg)
    assert type(model.network) is BrainformerNetwork and model.config.decoding == "expected"
    out = model(eeg, labels=meg)
    assert out.prediction.shape == (4, 3, 10, 258)  # logits (from the EEG alone by default)
    net = model.network
    torch.testing.assert_close(out.loss, token_cross_entropy(out.prediction, net.meg_tokens(meg)))
    assert model(eeg).prediction.shape == meg.shape  # predicted MEG


def test_trainer_trains_the_token_model(tmp_path):
    eeg, meg = _pairs(16)
    model = _model(eeg, meg)
    with torch.no_grad():
        before = model(eeg, labels=meg).loss.item()
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=20, per_device_train_batch_size=8, learning_rate=1e-2,
        logging_steps=10, report_to=[], use_cpu=True, save_strategy="no", seed=0, disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=PairedDataset(eeg, meg)).train()
    model.eval()
    with torch.no_grad():
        after = model(eeg, labels=meg).loss.item()
    assert after < before, (before, after)


def test_token_folders_load_both_ways(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 4, 10)) * 1e-5
    Y = np.repeat(X[:, :1], 3, axis=1) * 1e-7 + rng.standard_normal((12, 3, 10)) * 1e-14
    est = EEGToMEGRegressor(mode="tokens", **TINY, max_epochs=1, batch_size=6, random_state=0).fit(X, Y)
    est.save_pretrained(tmp_path / "est")
    model = AutoModel.from_pretrained(tmp_path / "est").eval()
    assert type(model.network) is BrainformerNetwork and model.config.max_len == 10
    for name in ("x_center", "x_clip", "y_center", "y_clip", "x_mean", "y_scale"):
        torch.testing.assert_close(getattr(model.network, name), getattr(est.module_, name), rtol=0, atol=0)
    with torch.no_grad():
        np.testing.assert_array_equal(model.network.predict_si(torch.from_numpy(X)).numpy(), est.predict(X))
    model.save_pretrained(tmp_path / "hf")
    back = EEGToMEGRegressor.from_pretrained(tmp_path / "hf")
    assert back.mode == "tokens"
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
