"""LaBraM parity fixture from the authors' code (935963004/LaBraM).

Builds their pretraining model ``modeling_pretrain.NeuralTransformerForMEM`` with the
constructor arguments of ``labram_base_patch200_1600_8k_vocab`` (reduced: 1 block, MLP ratio 1,
vocabulary 16; patch embedding and width 200 as published; ``init_values=0.1``, their
pretraining default), seeded, saves it as their ``labram-base.pth`` (``{'model': state_dict,
'epoch', 'args': Namespace}``, utils.save_model), then follows ``run_class_finetuning.py``:
keep the ``student.`` tensors (:351-357), drop ``relative_position_index`` (:365-368), load them
into ``modeling_finetune.NeuralTransformer`` (``labram_base_patch200_200``'s arguments,
``--use_cls``: the CLS token after the final norm, :127-129) and run ``forward_features`` on
EEGMAT windows at 200 Hz in units of 0.1 mV (``engine_for_finetuning.py:64``: ``/ 100``) with
``input_chans`` from their ``utils.get_input_chans`` (:713-717; the channel list is read from
their utils.py, which is too heavy to import).

    python tools/parity/make_labram.py --repo /path/to/LaBraM
"""

import argparse
import ast
from functools import partial

import torch
from _common import (
    bfloat16_grid,
    eegmat_windows,
    parse_args,
    save_torch_deflated,
    write_fixture,
)
from torch import nn

ARGS = parse_args(__doc__)
from modeling_finetune import NeuralTransformer
from modeling_pretrain import NeuralTransformerForMEM

SIZE = {"depth": 1, "mlp_ratio": 1.0}
norm = partial(nn.LayerNorm, eps=1e-6)

torch.manual_seed(0)
pretrain = NeuralTransformerForMEM(patch_size=200, embed_dim=200, num_heads=10, qkv_bias=False, qk_norm=norm,
                                   norm_layer=norm, vocab_size=16, init_values=0.1, **SIZE)
with torch.no_grad():  # every tensor away from its default, so a misplaced one shows
    for p in pretrain.parameters():
        p.add_(0.05 * torch.randn_like(p))
bfloat16_grid(pretrain)  # a smaller file (deflated)
checkpoint = {"model": pretrain.state_dict(), "epoch": 0, "args": argparse.Namespace(model="labram_base")}

student = {k[len("student."):]: v for k, v in checkpoint["model"].items() if k.startswith("student.")}
student = {k: v for k, v in student.items() if "relative_position_index" not in k}
model = NeuralTransformer(patch_size=200, embed_dim=200, num_heads=10, qk_norm=norm, norm_layer=norm,
                          qkv_bias=False, init_values=0.1, use_mean_pooling=False, num_classes=0, **SIZE)
missing, unexpected = model.load_state_dict(student, strict=False)
print("missing:", missing, "unexpected:", unexpected)
assert not missing
model.eval()

source_tree = ast.parse((ARGS.repo / "utils.py").read_text())
standard_1020 = next(ast.literal_eval(node.value) for node in source_tree.body if isinstance(node, ast.Assign)
                     and getattr(node.targets[0], "id", "") == "standard_1020")

X, names = eegmat_windows(200.0, 4.0, 2)
upper = [n.upper() for n in names]
input_chans = [0] + [standard_1020.index(n) + 1 for n in upper]
x = torch.from_numpy(X / 100).float().reshape(len(X), len(names), -1, 200)
with torch.no_grad():
    features = model.forward_features(x, input_chans=input_chans).numpy()

write_fixture(
    "labram",
    model="labram",
    X=X, sfreq=200.0, ch_names=names,
    features=features,
    checkpoint_name="labram-base.pth",
    save_checkpoint=lambda path: save_torch_deflated(checkpoint, path),
    estimator_kwargs={"filters": None, "model_kwargs": {"num_layers": SIZE["depth"], "mlp_ratio": SIZE["mlp_ratio"]}},
    source={"repository": "935963004/LaBraM", "commit": ARGS.commit,
            "lines": "modeling_pretrain.py:270-288 (labram_base_patch200_1600_8k_vocab); "
                     "run_class_finetuning.py:127-129 (--use_cls), :351-368 (student. keys); "
                     "modeling_finetune.py:349-388 (forward_features); engine_for_finetuning.py:64 (/ 100); "
                     "utils.py:713-717 (get_input_chans)",
            "generator": "tools/parity/make_labram.py"},
)
