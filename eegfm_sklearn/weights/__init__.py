"""Pretrained weights: find, read code-free, convert, verify, report.

``resolve_weights`` turns a ``weights=`` value into braindecode-layout
tensors (:mod:`.resolve`, :mod:`.safe`, :mod:`.formats`);
``load_into_module`` fits them to a built module and refuses any
missing, unexpected or mis-shaped backbone tensor (:mod:`.verify`).
This package never imports scikit-learn.
"""

from .errors import UnsafeCheckpointError, WeightsError
from .formats import BRAINDECODE, WeightFormat, formats_for
from .resolve import (
    ResolvedWeights,
    effective_card,
    hub_cache_dir,
    hub_file,
    is_repo_id,
    originals_dir,
    resolve_weights,
)
from .safe import read_weight_file, sha256_file
from .save import save_weights_dir
from .verify import WeightsReport, load_into_module, match_state_dict

__all__ = [
    "BRAINDECODE",
    "ResolvedWeights",
    "UnsafeCheckpointError",
    "WeightFormat",
    "WeightsError",
    "WeightsReport",
    "effective_card",
    "formats_for",
    "hub_cache_dir",
    "hub_file",
    "is_repo_id",
    "load_into_module",
    "match_state_dict",
    "originals_dir",
    "read_weight_file",
    "resolve_weights",
    "save_weights_dir",
    "sha256_file",
]
