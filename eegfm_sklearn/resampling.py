"""Polyphase resampling of fixed-length windows, as one strided convolution.

The filter and the edge handling are those of
``mne.filter.resample(..., method="polyphase")`` (that is
``scipy.signal.resample_poly`` with a Kaiser(5.0) windowed-sinc low-pass of
``20 * max(up, down) + 1`` taps and reflected edges), so the output is the
same to float32 precision. What changes is how it is computed: scipy's
``upfirdn`` walks the signal row by row in float64, which costs as much as a
small backbone's forward; here the ``up`` polyphase branches are the output
channels of a single ``torch.nn.functional.conv1d`` with stride ``down``,
run in float32 on all rows at once (3-4x faster on 2 CPU cores). The
ratio is the exact ``up / down`` of the two rates, whatever the window
length (mne derives it from the window's rounded output length instead).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import firwin


class PolyphaseResampler:
    """Resample the last axis by ``up / down`` (both already reduced).

    Parameters
    ----------
    up, down : int
        Co-prime factors: the output rate is ``sfreq * up / down``.
    n_times_in : int
        Length of the windows it will be applied to.

    Attributes
    ----------
    n_times_out : int
        ``ceil(n_times_in * up / down)``, as ``scipy.signal.resample_poly``.
    """

    def __init__(self, up, down, n_times_in):
        self.up, self.down, self.n_times_in = int(up), int(down), int(n_times_in)
        self.n_times_out = -(-self.n_times_in * self.up // self.down)
        half_len = 10 * max(self.up, self.down)
        h = firwin(2 * half_len + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)) * self.up
        # Output k = q * up + p reads input q * down + r (r from -left on) with
        # tap h[half_len + p * down - r * up]; one kernel row per phase p.
        self.left = half_len // self.up
        r = np.arange(-self.left, ((self.up - 1) * self.down + half_len) // self.up + 1)
        taps = half_len + np.arange(self.up)[:, None] * self.down - r[None, :] * self.up
        kernel = np.where((taps >= 0) & (taps < h.size), h[np.clip(taps, 0, h.size - 1)], 0.0)
        self.kernel = torch.from_numpy(kernel.astype(np.float32))[:, None, :]  # (up, 1, width)
        n_steps = -(-self.n_times_out // self.up)  # conv outputs per phase
        self.right = max((n_steps - 1) * self.down + r.size - self.left - self.n_times_in, 0)
        if max(self.left, self.right) >= self.n_times_in:
            raise ValueError(
                f"Windows of {self.n_times_in} samples are too short to resample by "
                f"{self.up}/{self.down} (the filter reaches {max(self.left, self.right)} samples past "
                "each edge); cut longer windows."
            )

    def __call__(self, X):
        """Resample windows.

        Parameters
        ----------
        X : ndarray of float32, shape (n_trials, n_chans, n_times_in)

        Returns
        -------
        Xr : ndarray of float32, shape (n_trials, n_chans, n_times_out)
        """
        n_trials, n_chans, n_times = X.shape
        if n_times != self.n_times_in:
            raise ValueError(f"Expected windows of {self.n_times_in} samples, got {n_times}.")
        rows = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(-1, 1, n_times)
        with torch.inference_mode():
            rows = F.pad(rows, (self.left, self.right), mode="reflect")
            out = F.conv1d(rows, self.kernel, stride=self.down)  # (rows, up, steps)
            out = out.transpose(1, 2).reshape(n_trials, n_chans, -1)[..., : self.n_times_out]
        return out.numpy()
