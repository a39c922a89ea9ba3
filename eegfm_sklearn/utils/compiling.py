"""``torch.compile`` for inference, falling back to the eager module when compiling fails.

``torch.compile`` wraps a module at once but compiles it lazily, at the first
call (and again for a new input shape); either step can fail for reasons the
user cannot act on from here (no C++ compiler for inductor, an operation
dynamo cannot trace). :class:`CompiledOrEager` then runs the eager module
itself -- same results as ``compile=False`` -- and reports the failure once
through a callback (the estimator issues one :class:`CompileWarning`).
"""

from __future__ import annotations

import torch


class CompileWarning(UserWarning):
    """``compile=True`` could not compile the model: it runs eagerly (same results, eager speed)."""


class CompiledOrEager:
    """Call the compiled module; on a compile failure, the eager one from then on.

    Parameters
    ----------
    module : torch.nn.Module
        The eager module (its parameters are shared with the compiled one).
    on_failure : callable
        Called once with the exception when compiling fails (at wrap time or at a call).
    compiler : callable or None, default=None
        ``torch.compile`` when None (looked up at each wrap).
    """

    def __init__(self, module, on_failure, compiler=None):
        self.eager = module
        self.on_failure = on_failure
        try:
            self.compiled = (compiler or torch.compile)(module)
        except Exception as exc:  # noqa: BLE001 - any failure to compile means: run eagerly
            self._fall_back(exc)

    @property
    def failed(self):
        """Whether compiling failed (calls run the eager module)."""
        return self.compiled is None

    def _fall_back(self, exc):
        self.compiled = None
        self.on_failure(exc)

    # what predict_batches uses of a module
    @property
    def training(self):
        return self.eager.training

    def train(self, mode=True):
        self.eager.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        if self.compiled is None:
            return self.eager(x)
        try:
            return self.compiled(x)
        except Exception as exc:  # noqa: BLE001
            # An error of the input itself raises again here, as without compile, and is no compile failure.
            out = self.eager(x)
            self._fall_back(exc)
            return out
