"""ZUNA parity fixture from the authors' code: the ``zuna`` package (Zyphra), ZUNA1.1 release.

The authors publish ZUNA1.1's code as the PyPI package ``zuna`` (the GitHub repository
Zyphra/zuna holds the older 0.1 code, without the query-key and sandwich norms of ZUNA1.1).
``--repo`` is that wheel installed outside this project
(``pip install --no-deps --target DIR zuna==1.1.6``, plus python-dotenv on PYTHONPATH) and
``--wheel`` the downloaded wheel, whose version and sha256 the fixture records.

Builds their ``EncoderDecoder`` (``apps/AY2latent_bci/transformer.py``) from the model section
of their ``configs/config_infer_fif.yaml`` (4-D RoPE on ``{x,y,z,tc}``, no channel-id APE,
sliding windows of 65536 tokens, registers at the mean position, max_seqlen 256) at a reduced
size, seeded, and saves it as their ``model-00001-of-00001.safetensors`` (``model.``-prefixed, as
``eeg_eval.py`` strips it). The input goes through their own ``.fif`` path: EEGMAT windows at
256 Hz written to a ``.fif`` (positions: the package's template head-frame positions), read by
their ``EEGDataset_v4`` with that config's data section (5 s segments, one per window, average
reference, per-channel z-score with std + 1e-6 V, 100 position bins over +-0.12 m, no filters
here: the package's ``filters=None``), packed by their collate function, divided by
``data_norm`` and clamped by their ``eval_harness._normalize_and_select``, and encoded by
``model.encoder(token_values, seq_lens, tok_idx)`` as ``eeg_eval.py`` calls it, on the CPU:
their document mask built by ``create_block_mask(..., device='cpu', _compile=False)`` and
their un-compiled ``flex_attention`` (the path their code takes off CUDA). Features: each
channel's register latents averaged over coarse time (the paper's downstream pooling; what
braindecode's head reads), channels concatenated (the card's default ``flatten``).

    python tools/parity/make_zuna.py --repo /path/to/zuna-target --wheel /path/to/zuna-1.1.6-py3-none-any.whl

``--published-size`` builds their model at the released size instead (encoder 16 layers of width
1024) and prints the package's relative difference on the same input, without writing anything.
``--whole-path`` prints the package's whole path on 55 s of EEGMAT at its own 500 Hz (per-window
resampling, the card's filters or none) against their ``.fif`` path on the same recording
(``Raw.resample(256)`` of the file, their config's 0.5 Hz FIR high-pass), without writing anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import eegmat_windows, write_fixture

SIZE = {"dim": 32, "n_layers": 2, "n_heads": 2, "head_dim": 16, "multiple_of": 32}
SECONDS = 5.0  # one of their v4 segments per window
SFREQ = 256.0
RAW_SFREQ = 500.0  # EEGMAT's own rate
TOKEN_GAIN = 10.0


def parse():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", required=True, type=Path, help="the zuna wheel installed with pip --target")
    parser.add_argument("--wheel", required=True, type=Path, help="the zuna wheel file (its sha256 is recorded)")
    parser.add_argument("--published-size", action="store_true",
                        help="build their published size (dim 1024, 16 layers) and print the package's relative "
                             "difference instead of writing the fixture")
    parser.add_argument("--whole-path", action="store_true",
                        help="print the package's whole path on 55 s of 500 Hz EEGMAT against their .fif path "
                             "(their resampling of the recording, 0.5 Hz high-pass) instead of writing the fixture")
    args = parser.parse_args()
    args.version = re.match(r"zuna-([^-]+)-", args.wheel.name).group(1)
    args.sha256 = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    sys.path.insert(0, str(args.repo.resolve()))
    return args


def their_args(repo, cls, section, **overrides):
    """A dataclass of theirs from a section of their config_infer_fif.yaml, with overrides."""
    import yaml

    config = yaml.safe_load((repo / "apps/AY2latent_bci/configs/config_infer_fif.yaml").read_text())[section]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in {**config, **overrides}.items() if k in names})


def write_fif(path, X, names, positions, sfreq=SFREQ):
    import mne

    info = mne.create_info(names, sfreq, "eeg")
    for ch, pos in zip(info["chs"], positions):
        ch["loc"][:3] = pos
    raw = mne.io.RawArray(np.concatenate(list(X), axis=1).astype(np.float64) * 1e-6, info, verbose="error")
    raw.save(path, overwrite=True, verbose="error")


def build_theirs(repo, size):
    """Their EncoderDecoder from their config's model section, seeded, every tensor moved off its init."""
    from apps.AY2latent_bci.transformer import DecoderTransformerArgs, EncoderDecoder

    model_args = their_args(repo, DecoderTransformerArgs, "model", model_dtype="fp32", **size)
    torch.manual_seed(0)
    model = EncoderDecoder(model_args)
    model.init_weights()
    with torch.no_grad():  # norms start at 1 and registers at 0: move every tensor, so a misplaced one shows
        for p in model.parameters():
            spread = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0
            p.add_(0.1 * spread * torch.randn_like(p))
        # Their input has a std of 0.1: at nn.Linear's init the token embedding leaves the features
        # nearly constant across windows (0.08 %); trained weights do not.
        model.encoder.tok_embeddings.weight.mul_(TOKEN_GAIN)
    return model.eval()


def their_features(repo, model, X, names, positions, sfreq=SFREQ, highpass=None):
    """Their .fif path and encoder on the windows ``X`` (µV): each channel's latents averaged over time.

    The windows are written one after another as one recording at ``sfreq``; their loader resamples
    it to 256 Hz, high-passes it at ``highpass`` (their config's 0.5 Hz; None: off) and cuts it into
    5 s segments again.
    """
    from apps.AY2latent_bci.eeg_data import BCIDatasetArgs, EEGProcessor, create_dataloader_v2
    from apps.AY2latent_bci.eval_harness import _normalize_and_select

    with tempfile.TemporaryDirectory() as tmp:
        write_fif(Path(tmp) / "eegmat_raw.fif", X, names, positions, sfreq)
        data_args = their_args(repo, BCIDatasetArgs, "data", data_dir=tmp, glob_filter=["*.fif"],
                               v4_segment_sec=SECONDS, v4_highpass_hz=highpass, num_workers=0)
        batch = next(iter(create_dataloader_v2(data_args, seed=0, rank=0)))
    batch = _normalize_and_select(batch, data_args)
    seq_lens = batch["seq_lens"]
    assert seq_lens.tolist() == [len(names) * round(SECONDS * SFREQ) // 32] * len(X), seq_lens  # one per window
    assert not batch["token_dropout"].any()
    torch._dynamo.config.disable = True  # their EEGProcessor.process is @torch.compile'd: run it eagerly
    processed = EEGProcessor(data_args).process(
        **{k: batch[k] for k in ("eeg_signal", "chan_pos", "chan_pos_discrete", "chan_id", "t_coarse",
                                 "seq_lens", "max_tc", "token_dropout", "pad_mask")})
    torch._dynamo.config.disable = False  # eager flex_attention runs through dynamo's eager backend
    tok_idx = torch.cat((processed["chan_pos_discrete"], processed["t_coarse"]), dim=1).unsqueeze(0)  # eeg_eval L1746
    with torch.no_grad():
        latents, _, _ = model.encoder(token_values=processed["encoder_input"].unsqueeze(0), seq_lens=seq_lens,
                                      tok_idx=tok_idx)
    latents = latents[0].numpy()  # (sum(seq_lens), latent_dim), documents one after another
    chan_id = batch["chan_id"][:, 0].numpy()
    features = []
    for start, n in zip(np.cumsum([0, *seq_lens.tolist()[:-1]]), seq_lens.tolist()):
        ids, lat = chan_id[start:start + n], latents[start:start + n]
        features.append(np.stack([lat[ids == c].mean(axis=0) for c in range(len(names))]).reshape(-1))
    return np.stack(features)


def whole_path(repo, model, state, names, positions):
    """Print the package's whole path on 500 Hz EEGMAT against their .fif path with their 0.5 Hz high-pass."""
    from safetensors.torch import save_file

    from eegfm_sklearn import FoundationTransformer

    X500, _ = eegmat_windows(RAW_SFREQ, SECONDS, n_windows=11, names=names, start_s=0.0)
    theirs = their_features(repo, model, X500, names, positions, sfreq=RAW_SFREQ, highpass=0.5)
    spread = np.linalg.norm(theirs - theirs.mean(0)) / np.linalg.norm(theirs)
    print(f"their features vary across the {len(X500)} windows by {spread:.4f} (relative RMS about their mean)")
    with tempfile.TemporaryDirectory() as tmp:
        save_file(state, Path(tmp) / "model-00001-of-00001.safetensors")
        for filters in ("card", None):
            est = FoundationTransformer("zuna", weights=str(Path(tmp) / "model-00001-of-00001.safetensors"),
                                        sfreq=RAW_SFREQ, ch_names=names, filters=filters, model_kwargs=SIZE)
            ours = est.fit(X500).transform(X500)
            gap = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
            print(f"package on the 500 Hz windows, filters={filters!r}: relative RMS {gap:.4f}")


def main():
    args = parse()
    from safetensors.torch import save_file

    from eegfm_sklearn.cards import get_model_card
    from eegfm_sklearn.preprocessing.montage import plan_channels, slot_positions

    repo = args.repo.resolve()
    X, names = eegmat_windows(SFREQ, SECONDS, n_windows=2)
    card = get_model_card("zuna")
    positions = np.asarray(slot_positions(card, plan_channels(card.channels, names).report), dtype=np.float32)
    size = {} if args.published_size else SIZE
    model = build_theirs(repo, size)
    state = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    features = their_features(repo, model, X, names, positions)
    np.testing.assert_equal(features.shape, (len(X), len(names) * model.encoder.output.out_features))

    if args.whole_path:  # measure only: 55 s at 500 Hz is too large a fixture
        whole_path(repo, model, state, names, positions)
        return
    if args.published_size:  # measure only: the file is ~1.5 GB
        from eegfm_sklearn import FoundationTransformer

        with tempfile.TemporaryDirectory() as tmp:
            save_file(state, Path(tmp) / "model-00001-of-00001.safetensors")
            est = FoundationTransformer("zuna", weights=str(Path(tmp) / "model-00001-of-00001.safetensors"),
                                        sfreq=SFREQ, ch_names=names, filters=None).fit(X)
            ours = est.transform(X)
        gap = np.abs(ours - features).max() / np.abs(features).max()
        print(f"published size ({sum(p.numel() for p in model.encoder.parameters()) / 1e6:.0f} M encoder "
              f"parameters): relative difference {gap:.2e}")
        return

    write_fixture(
        "zuna", model="zuna", X=X, sfreq=SFREQ, ch_names=names, features=features,
        checkpoint_name="model-00001-of-00001.safetensors", save_checkpoint=lambda path: save_file(state, path),
        estimator_kwargs={"filters": None, "model_kwargs": SIZE},
        source={"repository": "Zyphra/zuna", "distribution": f"zuna=={args.version}", "sha256": args.sha256,
                "lines": "apps/AY2latent_bci/transformer.py EncoderTransformer.forward L1136-1279, EncoderDecoder "
                         "L1359-1380, create_document_mask L90-180; lingua/transformer.py Attention.forward "
                         "(CPU: flex_attention un-compiled) L480-612, RMSNorm L375-413; eeg_data.py EEGDataset_v4 "
                         "L1990-2240 (avg ref, z-score std + 1e-6, discretize_chan_pos L389-437, "
                         "chop_and_reshape_signals 'A'), eval_harness.py _normalize_and_select L31-41 (/ data_norm, "
                         "clamp); eeg_eval.py L1369-1385 (strip 'model.'), L1746-1749 (tok_idx), L1780-1784 "
                         "(encoder call); configs/config_infer_fif.yaml (model and data sections)",
                "generator": "tools/parity/make_zuna.py"},
    )


if __name__ == "__main__":
    main()
