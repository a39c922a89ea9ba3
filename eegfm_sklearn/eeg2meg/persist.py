"""The one folder layout of EEG->MEG models, shared by the estimator and ``transformers``.

- ``config.json``: ``{"model_type": "eeg2meg", "mode": ..., <the network's
  build_kwargs>}``, the config :class:`.hf.EEGToMEGConfig` reads (a folder
  written by ``transformers`` adds its own keys, ignored here);
- ``model.safetensors``: the network's tensors under ``network.`` (the key
  names of :class:`.hf.EEGToMEGModel`), channel statistics included;
- ``eegfm_estimator.json`` (folders written by the estimator only): the
  estimator's parameters and any other fitted state, as JSON.

So ``EEGToMEGRegressor.save_pretrained`` folders load with
``transformers.AutoModel.from_pretrained`` and the reverse. Writing goes
through the core's :func:`eegfm_sklearn.weights.save_weights_dir`; reading
uses only JSON and safetensors: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from ..utils.seeding import seeded
from .networks import build_network, network_params

MODEL_TYPE = "eeg2meg"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ESTIMATOR_NAME = "eegfm_estimator.json"
PREFIX = "network."  # the attribute holding the network in the transformers model
FORMAT_VERSION = 1


def network_config(network) -> dict:
    """``config.json`` content of ``network``."""
    return {"model_type": MODEL_TYPE, "mode": network.mode, **network.build_kwargs}


def save_folder(network, directory, estimator_state=None) -> Path:
    """Write ``network`` (and an estimator's state, if given) to ``directory``.

    Parameters
    ----------
    network : EEGToMEGNetwork
    directory : str or Path
        Created if needed.
    estimator_state : dict or None
        JSON-able; written to ``eegfm_estimator.json``.

    Returns
    -------
    directory : Path
    """
    from ..weights import save_weights_dir

    holder = nn.Module()
    holder.network = network  # state_dict keys "network.*", as in the transformers model
    folder = save_weights_dir(holder, directory, network_config(network))
    if estimator_state is not None:
        state = {"format_version": FORMAT_VERSION, **estimator_state}
        (folder / ESTIMATOR_NAME).write_text(json.dumps(state, indent=2, sort_keys=True))
    return folder


def _check_folder_or_repo_id(pretrained):
    """A missing local folder is reported as such, not as a malformed Hugging Face repo id."""
    from ..weights import is_repo_id

    text = os.fspath(pretrained)
    if os.path.isdir(text):
        return
    if not is_repo_id(pretrained) or "@" in text or text.startswith((".", "~")) or os.path.isabs(text):
        raise FileNotFoundError(
            f"from_pretrained: the folder {text!r} does not exist, and it is not a Hugging Face repo id "
            "('owner/name'). Pass the folder written by save_pretrained, or a repo id (revision=...)."
        )


def _file(pretrained, filename, hub_kwargs, required=True):
    """Local path of ``filename`` in a folder or a Hub repo; None if optional and absent."""
    if os.path.isdir(pretrained):
        path = Path(pretrained) / filename
        if path.is_file():
            return path
        if required:
            raise FileNotFoundError(f"{pretrained} has no {filename}; pass a folder written by save_pretrained.")
        return None
    from ..weights import hub_file  # the core's Hub access: one offline probe, the cache, a clear error

    return hub_file(str(pretrained), filename, required=required, **hub_kwargs)


def read_config(pretrained, **hub_kwargs) -> dict:
    """The ``config.json`` of an EEG->MEG folder or Hub repo, checked."""
    _check_folder_or_repo_id(pretrained)
    path = _file(pretrained, CONFIG_NAME, hub_kwargs)
    try:
        config = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); save the model again.") from None
    if config.get("model_type") != MODEL_TYPE or "mode" not in config:
        raise ValueError(
            f"{pretrained} does not hold an EEG->MEG model: its config.json needs model_type="
            f"{MODEL_TYPE!r} and a 'mode' (got model_type={config.get('model_type')!r}). "
            "Pass a folder written by EEGToMEGRegressor.save_pretrained or EEGToMEGModel.save_pretrained."
        )
    return config


def network_kwargs(config: dict) -> dict:
    """The network constructor arguments held by a config (other keys are transformers' own)."""
    return {k: config[k] for k in network_params(config["mode"]) if k in config}


def load_network(pretrained, **hub_kwargs):
    """Build the network a folder (or Hub repo) describes and load its tensors.

    Parameters
    ----------
    pretrained : str or Path
        Folder written by ``save_pretrained`` (estimator or transformers
        model), or a Hugging Face repo id ``"owner/name"``.
    **hub_kwargs
        Passed to ``huggingface_hub.hf_hub_download`` (``revision``,
        ``cache_dir``, ``token``...).

    Returns
    -------
    network : EEGToMEGNetwork
        In eval mode, on the CPU.
    """
    from safetensors.torch import load_file

    config = read_config(pretrained, **hub_kwargs)
    with seeded(None):  # building draws from torch's RNG: never inside another thread's seeded fit
        network = build_network(config["mode"], **network_kwargs(config))
    state = load_file(str(_file(pretrained, WEIGHTS_NAME, hub_kwargs)))
    state = {k.removeprefix(PREFIX): v for k, v in state.items()}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"The tensors of {pretrained} do not match the network its config.json describes ({err}); "
            "the folder was edited or is damaged: save it again."
        ) from None
    return network.eval()


def read_estimator_state(pretrained, **hub_kwargs) -> dict | None:
    """``eegfm_estimator.json`` of a folder or repo, or None (a folder written by transformers)."""
    path = _file(pretrained, ESTIMATOR_NAME, hub_kwargs, required=False)
    return None if path is None else json.loads(path.read_text())
