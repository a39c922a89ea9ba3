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
from _common import eegmat_windows, parse_args, write_fixture

OLD_TO_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
SIZE = {"embed_dim": 32, "embed_num": 2, "depth": 2, "num_heads": 2}


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
    target.eval()

    chan_ids = target.prepare_chan_ids([OLD_TO_NEW.get(n, n).upper() for n in names])
    x = torch.from_numpy(X)
    x = (x - x.mean(-2, keepdim=True)) / 1000.0  # their recipe: common average reference, µV -> mV
    with torch.no_grad():
        features = target(x, chan_ids).flatten(1).numpy()

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

    write_fixture(
        "eegpt", model="eegpt", X=X, sfreq=256.0, ch_names=names, features=features,
        checkpoint_name="eegpt_mcae_58chs_4s_large4E.ckpt", save_checkpoint=save,
        estimator_kwargs={"model_kwargs": dict(SIZE)},
        source={"repository": "BINE022/EEGPT", "commit": args.commit,
                "lines": "downstream/Modules/models/EEGPT_mcae.py EEGTransformer (L646-790); "
                         "downstream/linear_probe_EEGPT_BCIC2A.py L43-69, L86-88 (target_encoder, flatten); "
                         "datasets/pretrain/prepare_pretrain_dataset.py L49-51, L190-221 (average reference, mV); "
                         "pretrain/engine_pretraining.py L44-88, L207-247 (Lightning layout, OneCycleLR)",
                "generator": "tools/parity/make_eegpt.py"},
    )
    np.testing.assert_equal(features.shape[0], X.shape[0])


if __name__ == "__main__":
    main()
