"""``eegfm convert``: an authors' original release -> a braindecode-layout weights folder.

The release is read code-free and converted by :mod:`eegfm_sklearn.weights`,
then loaded into the model built with the checkpoint's contract, which
verifies every backbone tensor (the coverage report printed). The folder
holds the converted tensors (``model.safetensors``, braindecode key names)
and a ``config.json`` naming the model and the checkpoint's contract, so
``weights=DIR`` loads it with that contract and without conversion.
"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser(
        "convert", help="convert an original checkpoint release to a weights folder",
        description="Convert an authors' original checkpoint (file, folder, or registry name of an original "
                    "release) to a folder with config.json + model.safetensors in braindecode key names, "
                    "after checking that every backbone tensor loads; prints the coverage report. "
                    "Use the folder as weights=DIR.")
    p.add_argument("checkpoint", help="the release: a file, a folder or a registry name")
    p.add_argument("--model", required=True, help="registered model name (see `eegfm models`)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder to write")
    p.add_argument("--cache-dir", default=None, help="Hugging Face cache folder (for registry names)")
    p.add_argument("--force", action="store_true", help="overwrite a folder that already holds weights")
    p.set_defaults(run=run)
    return p


def build_for(resolved):
    """The module the checkpoint was released for (its recorded input shape, else 19 10-20 channels)."""
    card, ckpt = resolved.card, resolved.checkpoint
    shape = ckpt.input_shape if ckpt is not None else None
    module, plan = card.build_standard_module(2, input_shape=shape)
    return module, (plan.n_chans, plan.n_times)


def convert_checkpoint(checkpoint, model, directory, cache_dir=None, force=False):
    """Convert and verify ``checkpoint``, write it to ``directory``.

    Returns
    -------
    report : WeightsReport
        What loaded into the model (tensors loaded / initialised / ignored).
    directory : Path
    """
    import json

    from safetensors.torch import save_file

    from ..cards import get_model_card
    from ..weights import load_into_module, resolve_weights

    directory = Path(directory)
    if (directory / "model.safetensors").exists() and not force:
        raise FileExistsError(f"{directory} already holds model.safetensors; pass --force to overwrite it.")
    card = get_model_card(model)
    resolved = resolve_weights(checkpoint, card, cache_dir=cache_dir)
    module, (n_chans, n_times) = build_for(resolved)
    report = load_into_module(module, resolved, keep_head=False)  # raises unless every backbone tensor loads
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in resolved.state_dict.items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    contract = resolved.checkpoint.name if resolved.checkpoint is not None else None
    config = {"model": card.name, "checkpoint": contract, "n_chans": n_chans, "n_times": n_times,
              "sfreq": card.sfreq,
              "eegfm_sklearn": {"converted_from": resolved.source, "format": resolved.fmt,
                                "files": dict(resolved.files)}}
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return report, directory


def coverage(report):
    """The report's counts in one line."""
    return (f"{len(report.loaded)} tensors loaded, {len(report.initialised)} head tensors left to the task, "
            f"{len(report.ignored)} ignored, {len(report.adapted)} adapted")


def run(args):
    report, directory = convert_checkpoint(args.checkpoint, args.model, args.output, args.cache_dir, args.force)
    print(report)
    print(f"coverage: {coverage(report)}")
    print(f"written: {directory}/model.safetensors and config.json; use weights={str(directory)!r}")
    return 0
