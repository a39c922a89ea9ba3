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
        """Read the constructor arguments that paired windows determine.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_chans_in, n_times)
            EEG windows.
        Y : ndarray, shape (n_windows, n_chans_out, n_times_out)
            MEG windows.

        Returns
        -------
        kwargs : dict
            ``n_chans_in`` and ``n_chans_out`` (subclasses add their own);
            the estimator's parameters of the same names give the rest.
        """
        return {"n_chans_in": X.shape[1], "n_chans_out": Y.shape[1]}

    def check_windows(self, n_times_in: int, n_times_out: int) -> None:
        """Raise ``ValueError`` (saying what to change) if windows of these lengths cannot train.

        The base class accepts every length.

        Parameters
        ----------
        n_times_in : int
            Samples per EEG window.
        n_times_out : int
            Samples per MEG window.
        """

    def prepare(self, eeg: np.ndarray, meg: np.ndarray) -> None:
        """Initialise from the standardised training windows (the base class does nothing).

        Parameters
        ----------
        eeg : ndarray of float32, shape (n_windows, n_chans_in, n_times)
            Standardised EEG training windows.
        meg : ndarray of float32, shape (n_windows, n_chans_out, n_times_out)
            Standardised MEG training windows.
        """

    # -- training ---------------------------------------------------------------------------
    def training_output(self, eeg: torch.Tensor, meg: torch.Tensor) -> torch.Tensor:
        """Compute what ``loss`` compares with ``meg`` during training.

        A teacher-forced mode reads ``meg`` here; the base class raises
        ``NotImplementedError``.

        Parameters
        ----------
        eeg : torch.Tensor, shape (batch, n_chans_in, n_times)
            Standardised EEG.
        meg : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            Standardised MEG targets.

        Returns
        -------
        output : torch.Tensor
            The mode's training output (its shape is the mode's).
        """
        raise NotImplementedError

    def loss(self, output: torch.Tensor, meg: torch.Tensor) -> torch.Tensor:
        """Compute the scalar training loss of ``training_output(eeg, meg)`` against ``meg``.

        The base class raises ``NotImplementedError``.

        Parameters
        ----------
        output : torch.Tensor
            What :meth:`training_output` returned.
        meg : torch.Tensor, shape (batch, n_chans_out, n_times_out)
            Standardised MEG targets.

        Returns
        -------
        loss : torch.Tensor
            A 0-d tensor.
        """
        raise NotImplementedError

    # -- channel statistics -------------------------------------------------------------------
    def set_channel_stats(self, **stats) -> None:
        """Store the channel statistics in the network's float64 buffers.

        Parameters
        ----------
        **stats : array-like
            ``x_mean`` and ``x_scale`` of shape (n_chans_in,), ``y_mean`` and
            ``y_scale`` of shape (n_chans_out,): all four are required.
        """
        with torch.no_grad():
            for name in STAT_NAMES:
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(np.asarray(stats[name]), dtype=buf.dtype))

    def channel_stats(self) -> dict:
        """Return the stored channel statistics.

        Returns
        -------
        stats : dict of str to ndarray of float64
            ``x_mean``, ``x_scale`` (shape (n_chans_in,)), ``y_mean``,
            ``y_scale`` (shape (n_chans_out,)), as copies on the CPU.
        """
        return {name: getattr(self, name).detach().cpu().double().numpy() for name in STAT_NAMES}

    def predict_si(self, x: torch.Tensor, **forward_kwargs) -> torch.Tensor:
        """Map EEG in SI units to MEG in SI units with the stored channel statistics.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans_in, n_times)
            EEG in the units of the training windows (V).
        **forward_kwargs
            Passed to :meth:`forward`.

        Returns
        -------
        y : torch.Tensor of float64, shape (batch, n_chans_out, n_times_out)
            MEG in the units of the training windows (T, T/m).
        """
        z = (x.double() - self.x_mean[:, None]) / self.x_scale[:, None]
        dtype = next(p.dtype for p in self.parameters() if p.is_floating_point())
        y = self(z.to(dtype), **forward_kwargs).double()
        return y * self.y_scale[:, None] + self.y_mean[:, None]
