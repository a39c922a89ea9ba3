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

from ..validation import RecordingInfo

FORMAT_VERSION = 1


def _jsonable(value):
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def jsonable_params(est) -> dict:
    """The estimator's parameters that JSON can hold (the others take their defaults on load)."""
    return {k: v for k, v in est.get_params(deep=False).items() if _jsonable(v)}


def estimator_config(est) -> dict:
    """Everything but the tensors that ``restore`` needs, as JSON-able data."""
    check_is_fitted(est, "adapter_")
    info = est.recording_info_
    module = est._module()  # built on demand after a fit served from the cache
    build = module.build_args
    params = jsonable_params(est)
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
            "output": module.output,
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
    module = est._module()
    extra = module.head is not None or module.peft_config is not None
    ours = config["eegfm_sklearn"]
    ours["pooling"] = module.pooling
    ours["peft_config"] = module.peft_config.to_dict() if module.peft_config is not None else None
    folder = save_weights_dir(_plain_backbone(module), directory, config)
    if extra:
        state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
        save_file(state, str(folder / MODULE_FILE))
    return folder


def _read_saved_config(directory: Path) -> dict:
    if not directory.is_dir():
        from ..utils.paths import why_missing

        raise FileNotFoundError(
            f"from_pretrained: the folder {str(directory)!r} {why_missing(directory)}. Pass the folder written by "
            "save_pretrained; to start from published weights instead, pass them as weights= "
            "(a registry name or Hugging Face repo id) and fit."
        )
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); save the estimator again.") from None
    if not config.get("eegfm_sklearn"):
        raise ValueError(
            f"{directory} was not written by save_pretrained (no 'eegfm_sklearn' section in "
            "config.json); to start from its weights, pass it as weights= and fit."
        )
    return config


def load_estimator(cls, directory):
    """Restore a fitted estimator of class ``cls`` saved by ``save_estimator``.

    The fitted state is built by the estimator's own ``_set_fitted`` (as in
    ``fit``), with the adapter's statistics restored instead of learned. The
    module's initial draws are overwritten by the saved tensors: the global
    torch RNG is left as it was.
    """
    from ..utils.seeding import rng_untouched

    with rng_untouched():
        return _load_estimator(cls, directory)


def _load_estimator(cls, directory):
    directory = Path(directory).expanduser()
    config = _read_saved_config(directory)
    ours = config["eegfm_sklearn"]
    if ours["estimator"] != cls.__name__:
        raise ValueError(f"{directory} holds a {ours['estimator']}; load it with that class.")
    est = cls(**{"model": config["model"], **ours["params"], "weights": str(directory)})
    est._validate_params()
    inp = ours["input"]
    positions = {k: np.asarray(v) for k, v in inp["positions"].items()} or None
    info = RecordingInfo(inp["sfreq"], tuple(inp["ch_names"]), inp["units"], positions)
    est._set_fitted(info, lambda adapter: adapter.restore(**ours["adapter"]),
                    n_outputs=config["n_outputs"], output=ours["output"], keep_head=True)
    built = {k: est.module_.build_args[k] for k in ("n_chans", "n_times")}
    if built != {k: config[k] for k in built}:
        raise ValueError(f"{directory}/config.json records a backbone of {({k: config[k] for k in built})} but "
                         f"its input plan gives {built}; the folder was edited or is damaged: save it again.")
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
