"""``eegfm embed`` over many recordings into an output folder (corpus mode).

``eegfm embed`` dispatches here when the output is a folder (no ``.npy`` /
``.parquet`` suffix), or when there are several inputs, ``--bids`` or
``--moabb``. The work is :func:`eegfm_sklearn.embed_recordings`; this module
only maps options to its arguments and prints the summary. Exit 1 when any
recording failed, with a summary line on stderr.
"""

from __future__ import annotations

import importlib
import sys

from ..io.writers import SUFFIXES


def add_options(p):
    """Options of corpus mode (ignored by single-file mode)."""
    g = p.add_argument_group("several recordings (output: a folder)")
    g.add_argument("--bids", metavar="ROOT", default=None,
                   help="a BIDS tree (read with mne-bids); subject/session/task/run become columns")
    g.add_argument("--moabb", metavar="NAME", default=None,
                   help="a MOABB dataset (e.g. BNCI2015_003), from MOABB's local data folder")
    g.add_argument("--subjects", default=None, metavar="LIST", help="MOABB subjects, e.g. 1-5 or 1,3,7")
    g.add_argument("--allow-download", action="store_true", help="let MOABB download missing subjects")
    g.add_argument("--jobs", type=int, default=1, metavar="N", help="processes on this machine; default 1")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a dask.distributed scheduler (e.g. tcp://host:8786): recordings become its tasks")
    g.add_argument("--on-raw", default=None, metavar="MODULE:FUNCTION",
                   help="function applied to each Raw first, e.g. mne.datasets.eegbci:standardize")


def wants_corpus(args):
    """Corpus mode: a folder output, several inputs, --bids or --moabb."""
    return (args.output.suffix.lower() not in SUFFIXES or len(args.inputs) != 1 or args.bids is not None
            or args.moabb is not None)


def _function(text):
    module, _, name = str(text).partition(":")
    if not module or not name:
        raise ValueError(f"--on-raw {text!r}: write MODULE:FUNCTION, e.g. mne.datasets.eegbci:standardize.")
    return getattr(importlib.import_module(module), name)


def run(args):
    from ..corpus import embed_recordings
    from .embed import model_kwargs

    if not args.inputs and args.bids is None and args.moabb is None:
        raise ValueError("nothing to embed: give a recording file (or files, folders, globs, --bids, --moabb).")
    if args.output.suffix.lower() in SUFFIXES:
        raise ValueError(f"{args.output} is one file; several recordings (or --bids/--moabb) need an output "
                         "folder (a name without .npy/.parquet).")
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        table = embed_recordings(
            args.inputs, args.output, model=args.model, weights=args.weights, window_seconds=args.window,
            stride_seconds=args.stride, reject_by_annotation=not args.keep_bad, batch_size=args.batch_size,
            device=args.device, model_kwargs=model_kwargs(args.model, args.tiny, args.model_kwargs, args.weights),
            random_state=args.random_state, bids_root=args.bids, moabb=args.moabb, subjects=args.subjects,
            allow_download=args.allow_download, on_raw=_function(args.on_raw) if args.on_raw else None,
            jobs=args.jobs, client=client, verbose=0 if args.quiet else 2 if args.progress else 1)
    finally:
        if client is not None:
            client.close()
    failed = table[table["status"] != "done"]
    done = table[table["status"] == "done"]
    if not args.quiet:
        print(f"{len(done)} recordings -> {args.output} ({int(done['n_windows'].sum())} windows; "
              f"{int((done['action'] == 'computed').sum())} computed, {int((done['action'] == 'reused').sum())} "
              f"reused), manifest {args.output / 'manifest.jsonl'}")
    if len(failed):
        first = failed.iloc[0]
        print(f"eegfm embed: {len(failed)} of {len(table)} recordings failed (first: {first['source']}: "
              f"{first['cause']}); see {args.output / 'manifest.jsonl'}", file=sys.stderr)
        return 1
    return 0
