"""Parity fixture for MVPFormer from the authors' code (IBM/multi-variate-parallel-transformer).

Builds their ``MVPFormerModel`` (``models/mvpformer.py``) with ``MVPFormerConfig(lora=True)`` (their
configs all set it) and their ``WaveEncoder`` (``models/fftencoder.py``) at a reduced size, seeded,
gives the LoRA factors non-zero values (as after training), and saves the state dict of an
``HMVPFormer`` the way the released ``genie-*.pt`` files hold it: ``mvpformer.*`` (LoRA factors
unmerged: saved in training mode), ``encoder.{ln,proj}.weight``, ``seizure_embeddings`` and
``head.head.*``. Features: the last segment's tokens averaged over channels, what their
classification step feeds the head (``ClassificationHMVPFormer.training_step``:
``out[:, -1].mean(dim=1)`` after ``_common_forward``). Input: EEGMAT at 512 Hz in µV, one 5 s
segment per window.

Their modules import training-only packages (deepspeed, lightning, torchmetrics, torchtune, triton);
those are stubbed here, as nothing of them runs in the forward. Needs PyWavelets, ptwt and loralib
(``pip install --no-deps --target DIR``, DIR on PYTHONPATH).

    python tools/parity/make_mvpformer.py --repo /path/to/multi-variate-parallel-transformer
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import eegmat_windows, parse_args, write_fixture

SIZE = {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_head_kv": 1, "n_inner": 64}
STUBBED = ("deepspeed", "deepspeed.ops", "deepspeed.ops.adam", "deepspeed.runtime",
           "deepspeed.runtime.activation_checkpointing", "deepspeed.runtime.activation_checkpointing.checkpointing",
           "torchtune", "torchtune.modules", "torchtune.modules.peft", "pytorch_lightning",
           "pytorch_lightning.utilities", "pytorch_lightning.utilities.types", "torchmetrics",
           "torchmetrics.classification", "loggers", "loggers.patient_logger", "eeg_datasets", "attentions",
           "flash_attn")


class _Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (torch.nn.Module,), {})


def main():
    args = parse_args(__doc__)
    # transformers looks for deepspeed once, at import: import it before the stubs exist.
    import transformers  # noqa: F401
    from transformers import get_cosine_schedule_with_warmup  # noqa: F401
    from transformers.models.gpt2 import modeling_gpt2  # noqa: F401
    from transformers.models.llama import modeling_llama  # noqa: F401

    for name in STUBBED:
        sys.modules[name] = _Stub(name)
    torch.cuda.get_device_capability = lambda *a: (0, 0)  # CPU: their non-flash attention, torch RMSNorm
    from models.fftencoder import WaveEncoder
    from models.mvpformer import MVPFormerConfig, MVPFormerHead, MVPFormerModel

    if not hasattr(MVPFormerModel, "get_head_mask"):
        # Removed from recent transformers; with head_mask=None it gave one None per layer.
        MVPFormerModel.get_head_mask = lambda self, head_mask, n: [None] * n if head_mask is None else head_mask

    X, names = eegmat_windows(512.0, 5.0, n_windows=2)
    torch.manual_seed(0)
    config = MVPFormerConfig(n_positions=110, n_channels=128, **SIZE, global_att=True, activation_function="silu",
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                             lora=True)
    model = torch.nn.Module()
    model.mvpformer = MVPFormerModel(config)
    model.encoder = WaveEncoder(size_input=2560, size_output=SIZE["n_embd"])
    model.head = MVPFormerHead(size=SIZE["n_embd"], size_out=2)
    model.seizure_embeddings = torch.nn.Parameter(torch.randn(3, 2560) / 2560)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or name.endswith("ln.weight") or ".ln_" in name:
                param.normal_(1.0 if name.endswith("weight") and "lora" not in name else 0.0, 0.1)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}  # unmerged LoRA factors
    assert any("lora_A" in k for k in state) and any("c_attn.lora_B" in k for k in state)
    model.eval()  # loralib merges the factors into the weights

    x = torch.from_numpy(X).unsqueeze(1)  # (bsz, seg=1, ch, 2560): one segment per window
    with torch.no_grad():
        bsz, seg, ch, n = x.shape
        enc = model.encoder(x.reshape(-1, n)).reshape(bsz, seg, ch, -1)
        out = model.mvpformer(input_ids=None, inputs_embeds=enc).last_hidden_state
        features = out[:, -1].mean(dim=1).numpy()

    write_fixture(
        "mvpformer", model="mvpformer", X=X, sfreq=512.0, ch_names=names, features=features,
        checkpoint_name="genie-s-base.pt", save_checkpoint=lambda path: torch.save(state, path),
        estimator_kwargs={"model_kwargs": {"d_model": SIZE["n_embd"], "n_layers": SIZE["n_layer"],
                                           "n_heads": SIZE["n_head"], "n_head_kv": SIZE["n_head_kv"],
                                           "d_inner": SIZE["n_inner"]}},
        source={"repository": "IBM/multi-variate-parallel-transformer", "commit": args.commit,
                "lines": "models/mvpformer.py MVPFormerConfig L37-83, MVPFormerModel L155-400, HMVPFormer L405-484, "
                         "_common_forward L596-607, ClassificationHMVPFormer.training_step (out[:, -1].mean(dim=1)); "
                         "layers/mvpa.py L43-62 (loralib q_attn, c_attn value rows); models/fftencoder.py WaveEncoder",
                "generator": "tools/parity/make_mvpformer.py"},
    )
    np.testing.assert_equal(features.shape, (X.shape[0], SIZE["n_embd"]))


if __name__ == "__main__":
    main()
