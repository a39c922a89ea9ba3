"""Reading what a submodule computes during a backbone's forward pass.

For cards whose braindecode class has no ``return_features`` (or whose
features differ from what its head reads): run the module once and catch
the output of the layer that feeds the head. Generic; names no model.
"""

from __future__ import annotations


def run_and_catch(module, submodule, x, **forward_kwargs):
    """Run ``module(x, **forward_kwargs)`` and return ``submodule``'s last output.

    Parameters
    ----------
    module : torch.nn.Module
        The backbone.
    submodule : torch.nn.Module
        One of its submodules, called during its forward pass.
    x : Tensor, shape (n, n_chans, n_times)

    Returns
    -------
    caught : Tensor
        What ``submodule`` returned (the last call, if it runs several times).
    """
    caught = []
    handle = submodule.register_forward_hook(lambda mod, args, out: caught.append(out))
    try:
        module(x, **forward_kwargs)
    finally:
        handle.remove()
    if not caught:
        raise RuntimeError(f"{type(submodule).__name__} was not called by {type(module).__name__}.forward.")
    return caught[-1]


def positions_chs_info(card_name, slots, positions):
    """braindecode's ``chs_info`` for position-aware backbones: one dict per slot.

    Parameters
    ----------
    card_name : str
        For the error message.
    slots : sequence of str, length n_slots
    positions : ndarray of shape (n_slots, 3) or None
        Metres, in the frame the backbone expects (``loc[:3]`` of mne's ``info["chs"]``).

    Returns
    -------
    chs_info : list of dict
        ``{"ch_name": str, "loc": ndarray (12,)}`` per slot.
    """
    import numpy as np

    if positions is None:
        raise ValueError(f"{card_name} needs the channels' positions (the card sets uses_positions).")
    chs = []
    for name, pos in zip(slots, np.asarray(positions, dtype=float)):
        loc = np.zeros(12)
        loc[:3] = pos
        chs.append({"ch_name": str(name), "loc": loc})
    return chs
