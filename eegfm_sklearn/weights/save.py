"""Writing a module's weights as a braindecode-style folder."""

from __future__ import annotations

import json
from pathlib import Path


def save_weights_dir(module, directory, config=None):
    """Write ``config.json`` + ``model.safetensors`` (braindecode key names).

    The folder loads back with ``resolve_weights(directory, card)`` (and
    with braindecode's ``from_pretrained`` when ``config`` holds the
    constructor arguments).

    Parameters
    ----------
    module : torch.nn.Module
        Module whose ``state_dict()`` is written.
    directory : str or Path
        Folder to create or fill.
    config : dict, optional
        JSON-serialisable constructor arguments / metadata.

    Returns
    -------
    directory : Path
    """
    from safetensors.torch import save_file

    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or strided storage: write private copies.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    with open(directory / "config.json", "w") as f:
        json.dump(dict(config or {}), f, indent=2, sort_keys=True, default=str)
    return directory
