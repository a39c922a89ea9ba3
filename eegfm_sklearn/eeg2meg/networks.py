"""One builder for every EEG->MEG network, keyed by ``mode``.

``MODES`` maps a mode name to its network class (a subclass of
:class:`.base.EEGToMEGNetwork`). The estimator, :mod:`.persist` and
:mod:`.hf` build networks only through :func:`build_network`, so adding a
mode is adding its class here.
"""

from __future__ import annotations

import inspect

from .base import EEGToMEGNetwork
from .brainformer import BrainformerNetwork
from .continuous import EEGToMEGTransformer

MODES: dict[str, type[EEGToMEGNetwork]] = {
    EEGToMEGTransformer.mode: EEGToMEGTransformer,
    BrainformerNetwork.mode: BrainformerNetwork,
}


def network_modes() -> tuple:
    """Names of the available modes."""
    return tuple(MODES)


def network_class(mode: str) -> type[EEGToMEGNetwork]:
    """The network class of ``mode``."""
    try:
        return MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown EEG->MEG network mode {mode!r}; use one of {list(MODES)}.") from None


def network_params(mode: str) -> tuple:
    """Constructor argument names of ``mode``'s network (data-given ones included)."""
    sig = inspect.signature(network_class(mode).__init__)
    return tuple(
        name for name, p in sig.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def network_defaults(mode: str) -> dict:
    """Constructor defaults of ``mode``'s network: ``{name: default}`` for the arguments that have one."""
    sig = inspect.signature(network_class(mode).__init__).parameters
    return {name: sig[name].default for name in network_params(mode)
            if sig[name].default is not inspect.Parameter.empty}


def build_network(mode: str, **hyper) -> EEGToMEGNetwork:
    """Build the network of ``mode`` from its constructor arguments.

    Parameters
    ----------
    mode : str
        One of :func:`network_modes` (``"continuous"``, ``"tokens"``).
    **hyper
        Constructor arguments of that mode's class (``n_chans_in``,
        ``n_chans_out`` and its hyper-parameters); unknown names raise.

    Returns
    -------
    network : EEGToMEGNetwork
        Freshly initialised (draws from torch's RNG: call it under
        :func:`eegfm_sklearn.seeding.seeded`).
    """
    cls = network_class(mode)
    unknown = sorted(set(hyper) - set(network_params(mode)))
    if unknown:
        raise ValueError(f"{unknown} are not arguments of the {mode!r} network; it takes {list(network_params(mode))}.")
    sig = inspect.signature(cls.__init__).parameters
    missing = [n for n in network_params(mode) if sig[n].default is inspect.Parameter.empty and n not in hyper]
    if missing:
        raise ValueError(f"The {mode!r} network needs {missing} (e.g. the channel counts of the data).")
    return cls(**hyper)
