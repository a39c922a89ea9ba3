"""``embed_recordings``: a corpus into Parquet shards and a manifest; ``read_embeddings``: the rows back."""

from __future__ import annotations

from pathlib import Path

from . import manifest, shards
from .inputs import expand_inputs
from .worker import Job, embed_one


def embed_recordings(inputs=(), out=None, *, model, weights=None, window_seconds=4.0, stride_seconds=None,
                     reject_by_annotation=True, batch_size=64, device="cpu", model_kwargs=None, random_state=0,
                     pooling=None, filters="card", cache_dir=None, bids_root=None, bids_filters=None, moabb=None,
                     subjects=None, allow_download=False, on_raw=None, jobs=1, client=None, torch_threads=1,
                     verbose=1):
    """Embed many recordings, one Parquet shard each, with a manifest; resumable.

    Each recording is read without preloading and streamed window by
    window through :meth:`FoundationTransformer.transform_chunks` (fitted
    on that recording alone), as ``eegfm embed`` does for one file. A rerun
    into the same folder reuses every shard that is complete and was made
    from the same bytes with the same configuration, and computes the rest.

    Parameters
    ----------
    inputs : str or Path or list of str or Path, default=()
        Recording files, folders (searched recursively) and glob patterns.
    out : str or Path
        Output folder: ``run.json``, ``manifest.jsonl``, ``shards/<id>.parquet``.
        A folder made by another model, weights or preprocessing is refused.
    model : str
        Registered model name.
    weights : str or Path or None, default=None
        Pretrained weights (name, repo id, local path); None: random weights
        drawn from ``random_state``.
    window_seconds : float, default=4.0
        Length of the sliding windows.
    stride_seconds : float or None, default=None
        Step between windows; None: ``window_seconds`` (no overlap).
    reject_by_annotation : bool, default=True
        Skip windows overlapping "bad"/"edge" annotations.
    batch_size : int, default=64
        Windows per forward pass.
    device : str, default="cpu"
        Torch device of every task.
    model_kwargs : dict or None, default=None
        Overrides of the architecture's constructor kwargs.
    random_state : int, default=0
        Seed of random weights (with ``weights=None`` it must be an int:
        every recording gets the same weights).
    pooling : {None, "cls", "mean", "flatten"}, default=None
        As for :class:`~eegfm_sklearn.FoundationTransformer`.
    filters : "card" or None or list, default="card"
        As for :class:`~eegfm_sklearn.FoundationTransformer`.
    cache_dir : str or None, default=None
        Where named weights are looked up and downloaded.
    bids_root : str or Path or None
        A BIDS tree, read with mne-bids; subject/session/task/run become columns.
    bids_filters : dict or None
        ``subjects``, ``sessions``, ``tasks``, ``runs`` passed to
        ``mne_bids.find_matching_paths``.
    moabb : str or None
        A MOABB dataset class name; one recording per subject (session and
        run become columns).
    subjects : list of int or str or None
        MOABB subjects (``"1-5"`` accepted); default all.
    allow_download : bool, default=False
        Let MOABB download subjects missing from its local folder.
    on_raw : callable or None
        ``on_raw(raw) -> raw or None``, applied to each recording before
        embedding (e.g. ``mne.datasets.eegbci.standardize``); must be
        picklable for ``jobs``/``client``. Part of the fingerprint (by name).
    jobs : int, default=1
        Processes on this machine (joblib, loky backend).
    client : distributed.Client or None
        Run the recordings as tasks of a dask cluster instead.
    torch_threads : int or None, default=1
        Torch threads per task during its recording, fixed so that rows are
        bit-identical whichever way the run is spread; None leaves torch's
        setting (rows may then differ in the last bits between set-ups).
    verbose : int, default=1
        One progress bar over recordings (1: on a terminal, 2: always, 0: never).

    Returns
    -------
    manifest : pandas.DataFrame
        One row per recording of ``inputs``: ``recording_id``, ``source``,
        entities, ``size``, ``sha256``, ``duration_s``, ``n_windows``,
        ``n_rejected``, ``status`` ("done"/"failed"), ``action``
        ("computed"/"reused"/"failed"), ``cause``, ``seconds``, ``shard``,
        ``preprocessing``, ``warnings``, ``timings``, ``worker``, ``finished``.
    """
    from ..utils.progress import progress

    if out is None:
        raise ValueError("embed_recordings needs out=, the output folder.")
    if weights is None and random_state is None:
        raise ValueError("Random weights need random_state (an int), else every recording gets other weights.")
    if jobs is None or int(jobs) < 1:
        raise ValueError(f"jobs must be an int >= 1; got {jobs!r}.")
    recordings = expand_inputs(inputs, bids_root=bids_root, bids_filters=bids_filters, moabb=moabb,
                               subjects=subjects, allow_download=allow_download)
    params = {"model": model, "weights": None if weights is None else str(weights), "cache_dir": cache_dir,
              "model_kwargs": model_kwargs, "batch_size": batch_size, "device": device,
              "random_state": random_state, "window_seconds": window_seconds, "stride_seconds": stride_seconds,
              "reject_by_annotation": reject_by_annotation, "pooling": pooling, "filters": filters}
    described = {k: v for k, v in params.items() if k not in ("cache_dir", "model", "weights")}
    described["torch_threads"] = torch_threads
    header = manifest.run_header(model, weights, described, on_raw=on_raw, cache_dir=cache_dir)
    out = Path(out)
    manifest.claim_folder(out, header)
    shards.remove_partials(out)
    job = Job(str(out), header["fingerprint"], params, on_raw, torch_threads)
    entries = _dispatch(recordings, job, int(jobs), client)
    try:
        bar = progress(entries, total=len(recordings), verbose=verbose, desc="recordings", unit="rec",
                       min_total=1)
        read = 0
        for entry in bar:
            manifest.append(out, entry)
            read += entry.get("size") or 0
            if hasattr(bar, "set_postfix_str"):  # a drawn bar also counts the bytes read
                bar.set_postfix_str(f"{read / 1e6:.0f} MB", refresh=False)
    finally:
        if client is None and int(jobs) == 1:  # this process's backbones: not kept past the run
            from . import worker

            worker._MODULES.clear()
    shards.remove_partials(out)
    return manifest.read_manifest(out, ids=[r.id for r in recordings])


def _dispatch(recordings, job, jobs, client):
    """Entries as recordings finish (any order), from this process, joblib or dask."""
    if client is not None:
        return _dask(recordings, job, client)
    if jobs > 1:
        from joblib import Parallel, delayed

        return Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(
            delayed(embed_one)(rec, job) for rec in recordings)
    return (embed_one(rec, job) for rec in recordings)


def _dask(recordings, job, client):
    from distributed import as_completed

    from .worker import _base_entry, _one_line

    # pure=False: a rerun recomputes (the task's result depends on files, not only its arguments)
    futures = client.map(embed_one, recordings, job=job, pure=False)
    by_key = {f.key: rec for f, rec in zip(futures, recordings)}
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as err:  # noqa: BLE001  (outside embed_one: e.g. killed on every retry)
            rec = by_key[future.key]
            yield {**_base_entry(rec), "status": "failed", "action": "failed",
                   "cause": f"dask: {_one_line(err)}", "finished": manifest.now()}
        finally:
            future.release()


def read_embeddings(out, *, columns=None, filter=None, as_dataset=False, include_failed=False):
    """The rows of an output folder of :func:`embed_recordings`, with their recording id and entities.

    Parameters
    ----------
    out : str or Path
        The output folder.
    columns : list of str or None
        Columns to read (default all: ``recording_id``, ``subject``,
        ``session``, ``task``, ``run``, ``onset``, ``start_sample``,
        ``emb_0`` ...).
    filter : pyarrow.compute.Expression or None
        Row filter, e.g. ``pyarrow.compute.field("subject") == "01"``.
    as_dataset : bool, default=False
        Return a ``pyarrow.dataset.Dataset`` over the shards (for data
        larger than memory) instead of a DataFrame.
    include_failed : bool, default=False
        Read the finished recordings even when the manifest lists failed
        ones (which have no rows); by default that is an error naming them.

    Returns
    -------
    embeddings : pandas.DataFrame or pyarrow.dataset.Dataset
        One row per window, shards in manifest order.
    """
    import pyarrow.dataset as ds

    out = Path(out)
    manifest.read_run(out)  # a clear error for a folder that is not an output folder
    table = manifest.read_manifest(out)
    done = table[table["status"] == "done"] if len(table) else table
    if not include_failed and len(done) < len(table):
        failed = table.loc[table["status"] != "done", "recording_id"].tolist()
        raise ValueError(f"{len(failed)} recording(s) failed ({', '.join(failed[:3])}"
                         f"{'...' if len(failed) > 3 else ''}); rerun embed_recordings, or pass "
                         "include_failed=True to read the others.")
    paths = [str(out / p) for p in done["shard"]]
    if not paths:
        raise ValueError(f"{out}: no finished recording to read.")
    dataset = ds.dataset(paths, format="parquet")
    if as_dataset:
        return dataset
    return dataset.to_table(columns=columns, filter=filter).to_pandas()
