"""Reading a pickle that names objects beyond tensors, without running any of them.

EEGPT's real release is a PyTorch Lightning checkpoint written by torch 2.0: its
``lr_schedulers`` entry is the state of a ``OneCycleLR`` whose ``anneal_func`` is a bound
method, pickled as ``getattr(<the scheduler, with its optimizer>, "_annealing_cos")``. The
file below reproduces that layout with a real ``OneCycleLR`` and adds a reference to a
function of a module whose import and call leave marks on disk: the tensors must load, and
neither mark may appear.
"""

from __future__ import annotations

import pickle
import sys
import types

import pytest
import torch

from eegfm_sklearn.cards import get_model_card
from eegfm_sklearn.weights import (
    UnsafeCheckpointError,
    load_into_module,
    resolve_weights,
)
from eegfm_sklearn.weights.safe import Inert, read_weight_file

CARD = get_model_card("eegpt")
NAMES = ["FP1", "FZ", "CZ", "PZ", "O1"]
PROBE = "eegfm_inert_probe"
PROBE_SOURCE = '''
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").touch()

def boom(marker):
    pathlib.Path(marker).touch()
'''


class _Call:
    """Pickles as a call of the probe's ``boom``: unpickling it for real would leave a mark."""

    def __init__(self, fn, marker):
        self.fn, self.marker = fn, marker

    def __reduce__(self):
        return (self.fn, (str(self.marker),))


def _tiny_eegpt(seed):
    torch.manual_seed(seed)
    return CARD.build_module(len(NAMES), 256, 2, model_kwargs=dict(CARD.tiny_kwargs), slots=NAMES).eval()


def lightning_release(tmp_path, monkeypatch, source):
    """The release's layout: Lightning dict, AdamW moments, torch-2.0 OneCycleLR state, + a probe."""
    (tmp_path / f"{PROBE}.py").write_text(PROBE_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = __import__(PROBE)
    target = {f"target_encoder.{k}": v for k, v in source.target_encoder.state_dict().items()}
    online = {"encoder." + k[len("target_encoder."):]: v + 1.0 for k, v in target.items()}
    params = [torch.nn.Parameter(v.clone()) for v in online.values() if v.is_floating_point()]
    optimizer = torch.optim.AdamW(params, lr=5e-4)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-4, steps_per_epoch=2, epochs=2)
    sched = scheduler.state_dict()
    # torch 2.0 kept this bound method in the state dict.
    sched["anneal_func"] = types.MethodType(torch.optim.lr_scheduler.OneCycleLR._annealing_cos, scheduler)
    state = {**target, **online, "predictor.mask_token": torch.zeros(1, 1, 32),
             "reconstructor.reconstructor_proj.weight": torch.randn(64, 32)}
    path = tmp_path / "eegpt_mcae_58chs_4s_large4E.ckpt"
    torch.save({"epoch": 199, "state_dict": state, "optimizer_states": [optimizer.state_dict()],
                "lr_schedulers": [sched], "callbacks": {"probe": _Call(probe.boom, tmp_path / "CALLED")}},
               path)
    # Forget the probe: loading must neither import it again nor call it.
    del sys.modules[PROBE]
    (tmp_path / "IMPORTED").unlink()
    return path, target


def test_lightning_release_with_bound_method_loads_and_runs_nothing(tmp_path, monkeypatch):
    source = _tiny_eegpt(seed=0)
    path, target = lightning_release(tmp_path, monkeypatch, source)

    resolved = resolve_weights(path, CARD)

    assert not (tmp_path / "IMPORTED").exists() and PROBE not in sys.modules
    assert not (tmp_path / "CALLED").exists()
    assert resolved.fmt == "eegpt-original" and set(resolved.state_dict) == set(target)
    assert {"torch.optim.lr_scheduler.OneCycleLR", "torch.optim.adamw.AdamW", f"{PROBE}.boom"} <= set(
        resolved.inert)
    assert any(name.endswith(".getattr") for name in resolved.inert)  # the bound method, never looked up
    module = _tiny_eegpt(seed=1)
    report = load_into_module(module, resolved)
    assert len(report.loaded) == len(target) and set(resolved.inert) == set(report.inert)
    x = torch.randn(2, len(NAMES), 256)
    with torch.no_grad():
        torch.testing.assert_close(module(x, return_features=True)["features"],
                                   source(x, return_features=True)["features"], rtol=0, atol=1e-6)


def test_the_bound_method_stays_an_inert_record(tmp_path, monkeypatch):
    path, _ = lightning_release(tmp_path, monkeypatch, _tiny_eegpt(seed=0))
    obj = read_weight_file(path)
    anneal = obj["lr_schedulers"][0]["anneal_func"]
    assert isinstance(anneal, Inert) and anneal.name.endswith(".getattr")
    scheduler, attribute = anneal.args
    assert isinstance(scheduler, Inert) and attribute == "_annealing_cos"
    assert isinstance(obj["callbacks"]["probe"], Inert) and obj["callbacks"]["probe"].name == f"{PROBE}.boom"
    assert not (tmp_path / "CALLED").exists() and not (tmp_path / "IMPORTED").exists()


def test_plain_pickle_of_tensors_with_a_payload_is_still_refused(tmp_path, monkeypatch):
    # Without torch's zip container, tensors themselves would need code to rebuild: refused.
    (tmp_path / f"{PROBE}.py").write_text(PROBE_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = __import__(PROBE)
    path = tmp_path / "weights.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"target_encoder.x": torch.ones(2)},
                     "cb": _Call(probe.boom, tmp_path / "CALLED")}, f)
    del sys.modules[PROBE]
    (tmp_path / "IMPORTED").unlink()
    with pytest.raises(UnsafeCheckpointError):
        read_weight_file(path)
    assert not (tmp_path / "CALLED").exists() and not (tmp_path / "IMPORTED").exists()
