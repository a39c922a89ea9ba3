"""The EEG->MEG networks as a Hugging Face ``transformers`` model (the ``hf`` extra).

:class:`EEGToMEGConfig` carries the ``mode`` and the network's constructor
arguments; :class:`EEGToMEGModel` builds the network with
:func:`.networks.build_network` and asks it for its training loss, so every
mode registered in :mod:`.networks` works here unchanged. Importing
:mod:`eegfm_sklearn.eeg2meg` registers both with ``AutoConfig`` /
``AutoModel`` under ``model_type="eeg2meg"``.

The folders ``save_pretrained`` writes have the layout of :mod:`.persist`
(``config.json`` + ``model.safetensors``, keys ``network.*``), so they load
into ``EEGToMEGRegressor.from_pretrained``, and an estimator's folder loads
with ``AutoModel.from_pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

try:
    from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
    from transformers.utils import ModelOutput
except ImportError as err:  # the extra is optional: say how to get it
    raise ImportError(
        f"EEGToMEGConfig and EEGToMEGModel need the transformers library ({err}); "
        "install it with: pip install 'eegfm_sklearn[hf]'"
    ) from err

from ..utils.seeding import seeded
from .networks import build_network
from .persist import MODEL_TYPE, network_config, network_kwargs


class EEGToMEGConfig(PretrainedConfig):
    """Configuration of an EEG->MEG network.

    Parameters
    ----------
    mode : str, default="continuous"
        Network family, one of :func:`eegfm_sklearn.eeg2meg.network_modes`.
    **kwargs
        The network's constructor arguments (``n_chans_in``, ``n_chans_out``
        and the mode's hyper-parameters, e.g. ``d_model``), kept as attributes
        and written to ``config.json``; other keys go to ``PretrainedConfig``.

    Examples
    --------
    >>> config = EEGToMEGConfig(mode="continuous", n_chans_in=60, n_chans_out=306, d_model=32)
    """

    model_type = MODEL_TYPE

    def __init__(self, mode="continuous", **kwargs):
        self.mode = mode
        super().__init__(**kwargs)

    @classmethod
    def from_network(cls, network) -> EEGToMEGConfig:
        """The config describing an existing network (e.g. an estimator's ``module_``)."""
        config = dict(network_config(network))
        config.pop("model_type")
        return cls(**config)

    def network_kwargs(self) -> dict:
        """The constructor arguments of this config's network."""
        return network_kwargs({"mode": self.mode, **self.to_dict()})


@dataclass
class EEGToMEGOutput(ModelOutput):
    """Output of :class:`EEGToMEGModel`.

    Attributes
    ----------
    loss : torch.Tensor or None
        Scalar training loss of the mode (given ``labels``).
    prediction : torch.Tensor
        Without ``labels``: the predicted standardised MEG, shape
        ``(batch, n_chans_out, n_times_out)``. With ``labels``: what the
        mode's loss compares with them (the same MEG for ``"continuous"``).
    """

    loss: torch.Tensor | None = None
    prediction: torch.Tensor | None = None


class EEGToMEGModel(PreTrainedModel):
    """An EEG->MEG network as a ``transformers`` model.

    ``forward(eeg, labels=meg)`` returns the loss, so ``transformers.Trainer``
    trains it as is (a dataset of ``{"eeg": ..., "labels": ...}`` items).

    Parameters
    ----------
    config : EEGToMEGConfig

    Attributes
    ----------
    network : EEGToMEGNetwork
        Built by :func:`eegfm_sklearn.eeg2meg.build_network`.
    """

    config_class = EEGToMEGConfig
    main_input_name = "eeg"

    def __init__(self, config: EEGToMEGConfig):
        super().__init__(config)
        with seeded(None):  # building draws from torch's RNG: never inside another thread's seeded fit
            self.network = build_network(config.mode, **config.network_kwargs())
        for key, value in self.network.build_kwargs.items():  # defaults too: config.json is complete
            setattr(config, key, value)
        self.post_init()

    def _init_weights(self, module):
        """Keep the network's own initialisation (the one the estimator trains from)."""

    def forward(self, eeg: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> EEGToMEGOutput:
        """Predict MEG from EEG; with ``labels``, also the mode's training loss.

        Parameters
        ----------
        eeg : torch.Tensor, shape (batch, n_chans_in, n_times)
            Per-channel standardised EEG.
        labels : torch.Tensor, shape (batch, n_chans_out, n_times_out), optional
            The standardised MEG to learn.
        **kwargs
            Ignored (``transformers`` may pass e.g. ``num_items_in_batch``).

        Returns
        -------
        output : EEGToMEGOutput
        """
        if labels is None:
            return EEGToMEGOutput(prediction=self.network(eeg))
        output = self.network.training_output(eeg, labels)
        return EEGToMEGOutput(loss=self.network.loss(output, labels), prediction=output)


def register() -> None:
    """Register the config and model with ``AutoConfig`` / ``AutoModel`` (idempotent)."""
    for auto, args in ((AutoConfig, (MODEL_TYPE, EEGToMEGConfig)), (AutoModel, (EEGToMEGConfig, EEGToMEGModel))):
        try:
            auto.register(*args, exist_ok=True)
        except TypeError:  # transformers without exist_ok: registering twice raises ValueError
            try:
                auto.register(*args)
            except ValueError:
                pass
