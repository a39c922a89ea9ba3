"""CodeBrain's original layout (jingyingma01/CodeBrain ``SSSM`` state dict) -> braindecode keys.

The renames are the ones braindecode's ``CodeBrain.load_state_dict`` applies
to the authors' checkpoint (``YjMajy/CodeBrain``): ``module.`` prefix,
``S41`` -> ``sgconv``, ``sn`` -> ``rms_norm``, ``.D`` -> ``.skip_weight``,
``kernel_list.N.kernel`` -> ``kernel_list.N`` and old weight-norm names.
"""

from __future__ import annotations

import re

from ...weights.errors import WeightsError
from ...weights.formats import WeightFormat, is_tensor_dict, rename_weight_norm, strip_prefix, unwrap

_AUTHORS_ONLY = re.compile(r"\.S41\.|\.sn\.scale$|\.kernel_list\.\d+\.kernel$|\.D$")
_RENAMES = (
    (re.compile(r"\.S41\."), ".sgconv."),
    (re.compile(r"\.sn\."), ".rms_norm."),
    (re.compile(r"\.D$"), ".skip_weight"),
    (re.compile(r"\.kernel_list\.(\d+)\.kernel$"), r".kernel_list.\1"),
)


def _state(obj):
    sd = unwrap(obj, ("state_dict", "model", "module"))
    if not is_tensor_dict(sd):
        return None
    sd = strip_prefix(sd, "module.")
    return sd if any(_AUTHORS_ONLY.search(k) for k in sd) else None


def _matches(obj) -> bool:
    return _state(obj) is not None


def _convert(obj):
    sd = _state(obj)
    if sd is None:
        raise WeightsError("Not a CodeBrain original checkpoint (no S41 / sn / kernel_list.N.kernel keys).")
    out = {}
    for key, value in sd.items():
        for pattern, repl in _RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value
    # lm_head_t / lm_head_f (codebook heads of pretraining) are kept: the
    # card replaces them by Identity, so the loader lists them as ignored.
    return rename_weight_norm(out)


FORMAT = WeightFormat("codebrain-original", _matches, _convert)
