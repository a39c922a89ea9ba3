"""What every EEG->MEG network offers the estimator, the persistence code and ``transformers``.

A network class is one *mode* (:mod:`.networks` maps mode names to classes).
The estimator, :mod:`.persist` and :mod:`.hf` only use the methods below, so
a new mode is a new subclass registered in :mod:`.networks`, nothing else:

- ``build_kwargs``: the constructor's keyword arguments (JSON-able), saved as
  the config and given back to the constructor on load;
- ``data_kwargs(X, Y)``: the constructor arguments read from the data (channel
  counts...), the rest coming from the estimator's parameters of the same name;
- ``check_windows``, ``prepare``: checks and data-dependent initialisation
  before training;
- ``training_output(eeg, meg)`` and ``loss(output, meg)``: what training
  minimises (MSE, cross-entropy... the mode decides);
- ``forward(eeg)``: the prediction, in the same standardised units as ``meg``.

All tensors given to these methods are per-channel standardised EEG
``(batch, n_chans_in, n_times)`` and MEG ``(batch, n_chans_out, n_times_out)``;
the statistics that map SI units to them are float64 buffers of the network,
so they travel with the weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

STAT_NAMES = ("x_mean", "x_scale", "y_mean", "y_scale")


class EEGToMEGNetwork(nn.Module):
    """Base class of the EEG->MEG networks (one subclass per mode).

    Parameters
    ----------
    n_chans_in : int
        Number of EEG channels.
    n_chans_out : int
        Number of MEG channels.
    **hyper
        The subclass's other constructor arguments, recorded in ``build_kwargs``.
    """

    mode: str = ""  # the key of the subclass in networks.MODES

    def __init__(self, *, n_chans_in: int, n_chans_out: int, **hyper):
        super().__init__()
        for name, val in (("n_chans_in", n_chans_in), ("n_chans_out", n_chans_out)):
            if int(val) != val or val < 1:
                raise ValueError(f"{name} must be a positive integer; got {val!r}.")
        self.build_kwargs = {"n_chans_in": int(n_chans_in), "n_chans_out": int(n_chans_out), **hyper}
        self.n_chans_in, self.n_chans_out = int(n_chans_in), int(n_chans_out)
        # float64: SI values (~1e-13 T) must round-trip exactly through save/load.
        f64 = torch.float64
        self.register_buffer("x_mean", torch.zeros(self.n_chans_in, dtype=f64))
        self.register_buffer("x_scale", torch.ones(self.n_chans_in, dtype=f64))
        self.register_buffer("y_mean", torch.zeros(self.n_chans_out, dtype=f64))
        self.register_buffer("y_scale", torch.ones(self.n_chans_out, dtype=f64))

    # -- what the estimator asks before training ----------------------------------------
    @classmethod
    def data_kwargs(cls, X: np.ndarray, Y: np.ndarray) -> dict:
        """Constructor arguments given by paired windows ``X`` (EEG) and ``Y`` (MEG)."""
        return {"n_chans_in": X.shape[1], "n_chans_out": Y.shape[1]}

    def check_windows(self, n_times_in: int, n_times_out: int) -> None:
        """Raise ``ValueError`` (saying what to change) if windows of these lengths cannot train."""

    def prepare(self, eeg: np.ndarray, meg: np.ndarray) -> None:
        """Data-dependent initialisation from the standardised training windows (default: none)."""

    # -- training ---------------------------------------------------------------------------
    def training_output(self, eeg: torch.Tensor, meg: torch.Tensor) -> torch.Tensor:
        """What ``loss`` compares with ``meg`` (a teacher-forced mode reads ``meg`` here)."""
        raise NotImplementedError

    def loss(self, output: torch.Tensor, meg: torch.Tensor) -> torch.Tensor:
        """Scalar training loss of ``training_output(eeg, meg)`` against ``meg``."""
        raise NotImplementedError

    # -- channel statistics -------------------------------------------------------------------
    def set_channel_stats(self, **stats) -> None:
        """Store ``x_mean``, ``x_scale``, ``y_mean``, ``y_scale`` (arrays, one value per channel)."""
        with torch.no_grad():
            for name in STAT_NAMES:
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(np.asarray(stats[name]), dtype=buf.dtype))

    def channel_stats(self) -> dict:
        """The stored channel statistics as float64 arrays (keys of :data:`STAT_NAMES`)."""
        return {name: getattr(self, name).detach().cpu().double().numpy() for name in STAT_NAMES}

    def predict_si(self, x: torch.Tensor, **forward_kwargs) -> torch.Tensor:
        """Map EEG in SI units to MEG in SI units with the stored channel statistics."""
        z = (x.double() - self.x_mean[:, None]) / self.x_scale[:, None]
        dtype = next(p.dtype for p in self.parameters() if p.is_floating_point())
        y = self(z.to(dtype), **forward_kwargs).double()
        return y * self.y_scale[:, None] + self.y_mean[:, None]
