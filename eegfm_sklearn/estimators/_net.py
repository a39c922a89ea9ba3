"""The skorch side of fine-tuning: the net class, its callbacks, accelerate.

Its own module so that skorch (and pandas under it) is imported when a model
is first trained, not when the package is imported.
"""

from __future__ import annotations

import functools
import re
import sys

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PrintLog

from ..backbone import autocast
from ..utils.progress import interactive


class Net(NeuralNet):
    """A NeuralNet whose optimiser takes the estimator's parameter groups."""

    def __init__(self, *args, param_groups=None, precision=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.param_groups = param_groups
        self.precision = precision

    def infer(self, x, **fit_params):
        # Forward under autocast; the loss is computed in float32.
        with autocast(self.device, self.precision):
            return super().infer(x, **fit_params).float()

    def initialize_optimizer(self, triggered_directly=None):
        self.optimizer_ = self.optimizer(self.param_groups, lr=self.lr)
        return self

    @property
    def _default_callbacks(self):
        # skorch's one line per epoch, without its colour codes when stdout is no terminal (log files)
        if interactive(sys.stdout):
            return super()._default_callbacks
        return [(name, _PlainPrintLog() if name == "print_log" else cb) for name, cb in super()._default_callbacks]


class _PlainPrintLog(PrintLog):
    """skorch's epoch table with the best values left uncoloured."""

    def format_row(self, row, key, color):
        return re.sub(r"\x1b\[[0-9;]*m", "", str(super().format_row(row, key, color)))


@functools.cache
def accelerated_net_class():
    from skorch.hf import AccelerateMixin

    class _AcceleratedNet(AccelerateMixin, Net):
        def _initialize_accelerator(self):
            # A parameter-free criterion cannot be wrapped in DistributedDataParallel.
            kept = {}
            for name in self._criteria:
                crit = getattr(self, name + "_")
                if not any(p.requires_grad for p in crit.parameters()):
                    kept[name] = crit
                    setattr(self, name + "_", None)
            super()._initialize_accelerator()
            for name, crit in kept.items():
                setattr(self, name + "_", crit)
            return self

    return _AcceleratedNet


def accelerated_net(device):
    """skorch net class and kwargs for Hugging Face accelerate (multi-GPU / multi-node).

    The Accelerator reads the launch environment (``accelerate launch`` or
    ``torchrun``); ``split_batches`` keeps the global batch equal to
    ``batch_size`` however many processes share it, so results match a
    single process.
    """
    from accelerate import Accelerator, DataLoaderConfiguration

    cpu = torch.device(device).type == "cpu"  # CPU processes join through gloo
    # the same seeded shuffling whatever the number of processes
    loader = DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True)
    accelerator = Accelerator(dataloader_config=loader, cpu=cpu)
    return accelerated_net_class(), {"accelerator": accelerator, "device": None}  # accelerate places devices


class StopOnNonFiniteLoss(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, saying what to change.

    Parameters
    ----------
    lr : float
        The learning rate, named in the error.
    """

    def __init__(self, lr):
        self.lr = lr

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is None or bool(torch.isfinite(loss.detach()).all()):
            return
        epoch = len(net.history)
        raise FloatingPointError(
            f"The {'training' if training else 'validation'} loss became {float(loss.detach()):g} in epoch "
            f"{epoch} (lr={self.lr:g}): training diverged. Lower lr (e.g. lr={self.lr / 10:g}), set "
            "max_grad_norm=1.0, or check X for extreme samples and y for outliers."
        )
