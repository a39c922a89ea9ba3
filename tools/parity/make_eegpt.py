"""Parity fixture for EEGPT from the authors' code (BINE022/EEGPT).

Builds their ``EEGTransformer`` (target encoder) with their own constructor at a reduced size,
seeded, plus their predictor and reconstructor, and saves them the way their Lightning
pretraining run does (``pretrain/engine_pretraining.py``: ``state_dict`` with ``encoder.*``,
``target_encoder.*``, ``predictor.*``, ``reconstructor.*``; ``optimizer_states``; ``lr_schedulers``
holding the state of their ``OneCycleLR``). The released file was written by torch 2.0, whose
``OneCycleLR`` kept a bound method ``anneal_func`` in its state: that reference is reproduced, so
the fixture proves the package reads such a file without running anything from it.

The input is EEGMAT at 256 Hz (µV); the authors' recipe (common average reference, mV:
``datasets/pretrain/prepare_pretrain_dataset.py`` L49-51, L190-221) is applied here before their
forward, as the package's card does. Features: ``target_encoder(x, chan_ids)`` flattened
(``downstream/linear_probe_EEGPT_BCIC2A.py`` L86-88).

Whole path (``raw.npz``, ``whole_path_features.npy``): EEGMAT windows of 4 s at the file's 500 Hz,
prepared by their own ``temporal_interpolation`` (``prepare_pretrain_dataset.py`` L49-60: average
reference, then ``F.interpolate(mode='nearest')`` to 256 Hz x 4 s) and / 1000 (µV -> mV, as their
TSU and SEED readers do), then their forward; the package gets the raw 500 Hz windows. That module
imports torcheeg at its top for its dataset builders: a stub stands in (nothing of it runs).

    python tools/parity/make_eegpt.py --repo /path/to/EEGPT
"""

from __future__ import annotations

import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import eegmat_raw, eegmat_windows, parse_args, write_fixture

OLD_TO_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
SIZE = {"embed_dim": 32, "embed_num": 2, "depth": 2, "num_heads": 2}
RAW_SFREQ, START_S, SECONDS, N_WIN = 500.0, 10.0, 4.0, 2
PATCH_GAIN = 100.0
WHOLE_PATH = {
    "input": "raw.npz", "features": "whole_path_features.npy", "rtol": 0.01, "measured": 0.0046,
    "estimator_kwargs": {"model_kwargs": dict(SIZE)},
    "preparation": "datasets/pretrain/prepare_pretrain_dataset.py L49-60 temporal_interpolation: average "
                   "reference, then F.interpolate(mode='nearest') of each 4 s window to 1024 samples (no "
                   "anti-alias filter, each output sample the input sample at or before it), / 1000 (µV -> "
                   "mV), no filter; the package resamples each 500 Hz window with mne's polyphase filter "
                   "(zero phase, anti-aliased). The two 256 Hz inputs differ by 8 % (relative RMS), the "
                   "features by 0.46 %; given the authors' nearest-resampled windows at 256 Hz the package "
                   "matches to 3e-7. A unit slip (µV: 1.9 %, V: 7.9 %) or no average reference (32 %) "
                   "exceeds the tolerance",
}


class _Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


def their_temporal_interpolation(repo):
    """``temporal_interpolation`` of their pretraining preparation, imported from their file."""
    for name in ("torcheeg", "torcheeg.datasets", "torcheeg.transforms", "torcheeg.datasets.constants"):
        sys.modules.setdefault(name, _Stub(name))
    sys.path.insert(0, str(repo / "datasets" / "pretrain"))
    from prepare_pretrain_dataset import temporal_interpolation

    return temporal_interpolation


def raw_windows(names):
    """``N_WIN`` windows of ``SECONDS`` (µV, float32) at the file's own rate, from ``START_S``."""
    raw = eegmat_raw(0).pick([f"EEG {n}" for n in names])
    assert raw.info["sfreq"] == RAW_SFREQ
    n, start = round(SECONDS * RAW_SFREQ), round(START_S * RAW_SFREQ)
    data = raw.get_data(units="uV")[:, start:start + n * N_WIN]
    return np.ascontiguousarray(data.reshape(len(names), N_WIN, n).transpose(1, 0, 2), dtype=np.float32)


def main():
    args = parse_args(__doc__)
    sys.path.insert(0, str(args.repo / "downstream"))
    from Modules.models.EEGPT_mcae import (
        EEGTransformer,
        EEGTransformerPredictor,
        EEGTransformerReconstructor,
    )

    X, names = eegmat_windows(256.0, 4.0, n_windows=4)
    torch.manual_seed(0)
    common = {"mlp_ratio": 4.0, "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.0, "init_std": 0.02,
              "qkv_bias": True, "norm_layer": partial(torch.nn.LayerNorm, eps=1e-6)}
    encoder = EEGTransformer(img_size=[len(names), 1024], patch_size=64, **SIZE, **common)
    target = EEGTransformer(img_size=[len(names), 1024], patch_size=64, **SIZE, **common)
    # The EMA teacher differs from the online encoder after training: give it its own weights.
    predictor = EEGTransformerPredictor(num_patches=encoder.num_patches, use_part_pred=True,
                                        embed_dim=SIZE["embed_dim"], embed_num=SIZE["embed_num"],
                                        predictor_embed_dim=16, depth=1, num_heads=2, **common)
    reconstructor = EEGTransformerReconstructor(num_patches=encoder.num_patches, patch_size=64,
                                                embed_dim=SIZE["embed_dim"], embed_num=SIZE["embed_num"],
                                                reconstructor_embed_dim=16, depth=1, num_heads=2, **common)
    lit = torch.nn.ModuleDict({"encoder": encoder, "target_encoder": target, "predictor": predictor,
                               "reconstructor": reconstructor})
    with torch.no_grad():  # trained weights map mV-scale patches (~0.01) to tokens of unit scale; at
        # their init (std 0.02) the input would vanish beside the biases and the channel embedding
        for module in (encoder, target):
            module.patch_embed.proj.weight.mul_(PATCH_GAIN)
    target.eval()

    chan_ids = target.prepare_chan_ids([OLD_TO_NEW.get(n, n).upper() for n in names])
    x = torch.from_numpy(X)
    x = (x - x.mean(-2, keepdim=True)) / 1000.0  # their recipe: common average reference, µV -> mV
    with torch.no_grad():
        features = target(x, chan_ids).flatten(1).numpy()

    # Whole path: their preparation of raw 500 Hz windows, then the same forward.
    interpolate = their_temporal_interpolation(args.repo)
    X_raw = raw_windows(names)
    prepared = torch.stack([interpolate(torch.from_numpy(w), round(256 * SECONDS)) / 1000.0 for w in X_raw])
    with torch.no_grad():
        whole_features = target(prepared, chan_ids).flatten(1).numpy()

    # engine_pretraining.py configure_optimizers: AdamW + OneCycleLR (torch 2.0 kept the bound
    # method `anneal_func` in the scheduler's state dict).
    params = [p for n, p in encoder.named_parameters()]
    optimizer = torch.optim.AdamW(params, lr=5e-4)
    optimizer.zero_grad()
    sum(p.sum() for p in params).backward()
    optimizer.step()  # the release holds AdamW's moments: give the fixture some
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-4, steps_per_epoch=2, epochs=2,
                                                    div_factor=2, final_div_factor=8, pct_start=0.2)
    sched_state = scheduler.state_dict()
    sched_state["anneal_func"] = types.MethodType(torch.optim.lr_scheduler.OneCycleLR._annealing_cos, scheduler)

    def save(path):
        torch.save({"epoch": 199, "global_step": 400, "pytorch-lightning_version": "1.9.0",
                    "state_dict": lit.state_dict(), "loops": {},
                    "optimizer_states": [optimizer.state_dict()],
                    "lr_schedulers": [sched_state]}, path)

    folder = write_fixture(
        "eegpt", model="eegpt", X=X, sfreq=256.0, ch_names=names, features=features,
        checkpoint_name="eegpt_mcae_58chs_4s_large4E.ckpt", save_checkpoint=save,
        estimator_kwargs={"model_kwargs": dict(SIZE)},
        source={"repository": "BINE022/EEGPT", "commit": args.commit,
                "lines": "downstream/Modules/models/EEGPT_mcae.py EEGTransformer (L646-790); "
                         "downstream/linear_probe_EEGPT_BCIC2A.py L43-69, L86-88 (target_encoder, flatten); "
                         "datasets/pretrain/prepare_pretrain_dataset.py L49-51, L190-221 (average reference, mV); "
                         "pretrain/engine_pretraining.py L44-88, L207-247 (Lightning layout, OneCycleLR)",
                "generator": "tools/parity/make_eegpt.py"},
        extra={"whole_path": WHOLE_PATH},
    )
    np.savez_compressed(folder / "raw.npz", X=X_raw, sfreq=np.float64(RAW_SFREQ), ch_names=np.asarray(names))
    np.save(folder / "whole_path_features.npy", whole_features.astype(np.float32))
    np.testing.assert_equal(features.shape[0], X.shape[0])


if __name__ == "__main__":
    main()
