"""Saving a fitted estimator as a Hugging Face-style folder, and loading it.

The folder is ``config.json`` + ``model.safetensors`` (braindecode key
names, head included). ``weights=folder`` starts a new estimator from it;
``from_pretrained(folder)`` restores the fitted estimator itself (adapter
plan, classes, target scaling) without data.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..adapter import InputAdapter
from ..backbone import CardModule
from ..cards import get_model_card
from ..validation import RecordingInfo

FORMAT_VERSION = 1


def _jsonable(value):
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def estimator_config(est) -> dict:
    """Everything but the tensors that ``restore`` needs, as JSON-able data."""
    check_is_fitted(est, "module_")
    info = est.recording_info_
    build = est.module_.build_args
    params = {k: v for k, v in est.get_params(deep=False).items() if _jsonable(v)}
    return {
        "model": est.card_.name,
        "checkpoint": est.contract_,
        "n_chans": build["n_chans"],
        "n_times": build["n_times"],
        "n_outputs": build["n_outputs"],
        "sfreq": est.card_.sfreq,
        "model_kwargs": build["model_kwargs"],
        "eegfm_sklearn": {
            "format_version": FORMAT_VERSION,
            "estimator": type(est).__name__,
            "params": params,
            "input": {
                "sfreq": info.sfreq,
                "ch_names": list(info.ch_names),
                "units": info.units,
                "positions": {k: list(map(float, v)) for k, v in (info.positions or {}).items()},
            },
            "adapter": {"n_times_in": est.adapter_.n_times_in_, "stats": est.adapter_.stats_,
                        "continuous": est.adapter_.continuous_},
            "output": est.module_.output,
            "fitted": est._fitted_state(),
        },
    }


# Full CardModule state (pooling head, unmerged adapters), beside the plain backbone.
MODULE_FILE = "estimator_module.safetensors"


def _plain_backbone(module):
    """The backbone with braindecode's own key names (adapters merged into a copy)."""
    if module.peft_config is None:
        return module.backbone
    from ..finetune import merge_adapters

    return merge_adapters(copy.deepcopy(module)).backbone


def save_estimator(est, directory) -> Path:
    """Write a fitted estimator to ``directory``; returns the folder.

    ``model.safetensors`` always holds a plain braindecode backbone (adapters
    merged), so the folder also serves as ``weights=`` for other tools. A
    pooling head or unmerged adapters also go, with the whole module, to
    ``estimator_module.safetensors`` for ``from_pretrained``.
    """
    from safetensors.torch import save_file

    from ..weights import save_weights_dir

    config = estimator_config(est)
    module = est.module_
    extra = module.head is not None or module.peft_config is not None
    ours = config["eegfm_sklearn"]
    ours["pooling"] = module.pooling
    ours["peft_config"] = module.peft_config.to_dict() if module.peft_config is not None else None
    folder = save_weights_dir(_plain_backbone(module), directory, config)
    if extra:
        state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
        save_file(state, str(folder / MODULE_FILE))
    return folder


def load_estimator(cls, directory):
    """Restore a fitted estimator of class ``cls`` saved by ``save_estimator``."""
    from ..weights import load_into_module, resolve_weights

    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    ours = config.get("eegfm_sklearn")
    if not ours:
        raise ValueError(
            f"{directory} was not written by save_pretrained (no 'eegfm_sklearn' section in "
            "config.json); to start from its weights, pass it as weights= and fit."
        )
    if ours["estimator"] != cls.__name__:
        raise ValueError(f"{directory} holds a {ours['estimator']}; load it with that class.")
    est = cls(**{**ours["params"], "weights": str(directory)})
    resolved = resolve_weights(directory, get_model_card(config["model"]))
    inp = ours["input"]
    positions = {k: np.asarray(v) for k, v in inp["positions"].items()} or None
    est.recording_info_ = RecordingInfo(inp["sfreq"], tuple(inp["ch_names"]), inp["units"], positions)
    est.n_features_in_ = len(inp["ch_names"])
    est.card_ = resolved.card
    est.contract_ = config.get("checkpoint")
    est.adapter_ = InputAdapter(resolved.card, inp["sfreq"], inp["ch_names"], inp["units"],
                                missing=est.missing_channels, window_policy=est.window_policy,
                                positions=positions, filters=est.filters).restore(**ours["adapter"])
    build = {k: config[k] for k in ("n_chans", "n_times", "n_outputs", "model_kwargs")}
    est.module_ = CardModule(resolved.card, build, est.adapter_.report_.slots, output=ours["output"],
                             slot_positions=est.adapter_.slot_positions_)
    est.weights_report_ = load_into_module(est.module_.backbone, resolved, keep_head=True)
    if (directory / MODULE_FILE).is_file():
        _load_full_module(est, ours, directory / MODULE_FILE)
    est.module_.to(est.device).eval()
    est._set_fitted_state(ours["fitted"])
    return est


def _load_full_module(est, ours, path):
    """Rebuild the pooling head / adapters around the loaded backbone, then load all of it."""
    from safetensors.torch import load_file

    peft_config = None
    if ours.get("peft_config"):
        import peft

        peft_config = peft.get_peft_config(ours["peft_config"])
    module = est.module_
    est.module_ = type(module)(module.card, module.build_args, module.slot_names, module.output,
                               backbone=module.backbone, pooling=ours.get("pooling"), peft_config=peft_config,
                               slot_positions=module.slot_positions)
    est.module_.load_state_dict(load_file(str(path)), strict=True)
