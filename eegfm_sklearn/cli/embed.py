"""``eegfm embed``: sliding-window embeddings of a recording file, streamed to disk.

The file is opened without preloading (``mne.io.read_raw(preload=False)``)
and read chunk by chunk by :meth:`FoundationTransformer.transform_chunks`;
each chunk's embeddings go straight to the output file, so memory does not
grow with the recording's length.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io.recordings import read_raw
from ..io.writers import SUFFIXES, check_output, check_writer, writer_for
from . import corpus


def _output(text):
    path = Path(text)
    # a folder: corpus mode (cli/corpus.py); an existing folder named like an output file is a mistake
    if not path.suffix or (path.is_dir() and path.suffix.lower() not in SUFFIXES):
        return path
    try:
        return check_output(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err} (for many recordings: a folder name without suffix)") from None


def _json_object(text):
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"depth\": 2}'")
    return value


def add_model_options(p, several=False):
    """Options shared by the commands that build estimators (``several``: ``--model`` may repeat)."""
    if several:
        p.add_argument("--model", dest="models", action="append", required=True, metavar="MODEL",
                       help="registered model name (see `eegfm models`); repeat for several")
        p.add_argument("--weights", nargs="*", default=[], metavar="[MODEL=]WEIGHTS",
                       help="pretrained weights: one value for a single --model, else MODEL=WEIGHTS pairs; "
                            "default: random weights")
    else:
        p.add_argument("--model", required=True, help="registered model name (see `eegfm models`)")
        p.add_argument("--weights", default=None,
                       help="checkpoint name, Hugging Face repo id or local folder/file; default: random weights")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, mps); default cpu")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass; default 64")
    p.add_argument("--model-kwargs", type=_json_object, default=None, metavar="JSON",
                   help="overrides of the architecture's constructor kwargs, a JSON object")
    p.add_argument("--tiny", action="store_true",
                   help="the card's tiny architecture (random weights only): quick checks of the plumbing")
    if not several:  # benchmark seeds its rows itself (--seeds)
        p.add_argument("--random-state", type=int, default=0, help="seed of random weights; default 0")


def model_kwargs(model, tiny, extra, weights):
    """``model_kwargs`` from ``--tiny`` and ``--model-kwargs``."""
    from ..cards import get_model_card

    if tiny and weights is not None:
        raise ValueError("--tiny builds a small architecture that pretrained weights do not fit; drop one.")
    kwargs = dict(get_model_card(model).tiny_kwargs) if tiny else {}
    kwargs.update(extra or {})
    return kwargs or None


def add_parser(sub):
    p = sub.add_parser(
        "embed", help="embed a recording file in sliding windows",
        description="Embed a recording (any file mne.io.read_raw reads: EDF, BDF, FIF, BrainVision .vhdr, "
                    "EEGLAB .set...) in sliding windows, read and written chunk by chunk (memory does not "
                    "grow with the recording). Windows overlapping 'BAD...' or 'EDGE...' annotations are "
                    "skipped. The .npy output is (n_windows, embedding_size) float32, the rows of "
                    "FoundationTransformer.transform(raw); .parquet adds each window's onset (s) and start sample.")
    p.add_argument("inputs", type=Path, nargs="*", metavar="INPUT",
                   help="recording file; or, with a folder output, files, folders and globs")
    p.add_argument("-o", "--output", type=_output, required=True, metavar="OUT",
                   help=f"output file ({' or '.join(SUFFIXES)}) for one recording, or a folder for many "
                        "(Parquet shards + manifest, resumable)")
    add_model_options(p)
    p.add_argument("--window", type=float, default=4.0, help="window length in seconds; default 4")
    p.add_argument("--stride", type=float, default=None, help="step between windows in seconds; default: --window")
    p.add_argument("--keep-bad", action="store_true", help="also embed windows overlapping bad/edge annotations")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    shown.add_argument("--progress", action="store_true", help="draw the progress bar even when not on a terminal")
    corpus.add_options(p)
    p.set_defaults(run=run)
    return p


def run(args):
    if corpus.wants_corpus(args):  # several recordings into a folder: its own code path
        return corpus.run(args)
    args.file = args.inputs[0]
    # the checks that need no model first: a typo answers before torch and scikit-learn load
    check_writer(args.output)  # usage errors (exit 2) before the input is looked at
    if not Path(args.file).is_file():
        raise FileNotFoundError(f"{args.file}: no such file.")
    kwargs = model_kwargs(args.model, args.tiny, args.model_kwargs, args.weights)
    from ..estimators import FoundationTransformer
    from ..preprocessing.streaming import chunk_bounds
    from ..utils.progress import progress

    raw = read_raw(args.file)
    transformer = FoundationTransformer(
        args.model, weights=args.weights, device=args.device, batch_size=args.batch_size,
        model_kwargs=kwargs, random_state=args.random_state, window_seconds=args.window,
        stride_seconds=args.stride, reject_by_annotation=not args.keep_bad)
    transformer.fit(raw)
    chunks = transformer.transform_chunks(raw)  # sets window_starts_ before any chunk is read
    starts, onsets = transformer.window_starts_, transformer.window_onsets_
    n_chunks = len(chunk_bounds(starts, transformer.adapter_.n_times_in_, max(int(args.batch_size), 1)))
    verbose = 0 if args.quiet else 2 if args.progress else 1
    done = 0
    with writer_for(args.output, len(starts), transformer.embedding_size_) as out:
        for rows in progress(chunks, total=n_chunks, verbose=verbose, desc="embedding", unit="chunk"):
            out.write(rows, onsets[done:done + len(rows)], starts[done:done + len(rows)])
            done += len(rows)
    if not args.quiet:
        print(f"{args.file.name}: {len(starts)} windows of {args.window:g} s "
              f"({transformer.n_windows_rejected_} skipped for bad/edge annotations) -> {args.output} "
              f"({len(starts)} x {transformer.embedding_size_}, {args.model}"
              f"{', ' + str(args.weights) if args.weights else ', random weights'})")
    return 0
