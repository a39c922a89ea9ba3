"""One recording, start to finish, in whichever process runs it (this one, a joblib worker, a dask worker).

The work of a task: hash the source; if its shard is complete and was made
by this run's fingerprint from these bytes, reuse it; else read the
recording without preloading, fit the transformer (the adapter learns from
this recording only, so rows do not depend on which worker ran what before),
stream ``transform_chunks`` into the shard, and return the manifest entry.
Any error becomes a ``failed`` entry with a one-line cause.

The backbone is built once per process and configuration: the modules are
kept in ``_MODULES`` keyed by the run fingerprint and what the build depends
on, so a worker loads the weights once, not once per recording.
"""

from __future__ import annotations

import os
import platform
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import manifest, shards

# (fingerprint, build signature) -> (module, weights_report): this process's built backbones
_MODULES: dict = {}


@dataclass(frozen=True)
class Job:
    """What every task of a run shares (picklable, sent to workers once per task)."""

    out: str
    fingerprint: str
    params: dict = field(default_factory=dict)  # FoundationTransformer params
    on_raw: object = None
    torch_threads: int | None = 1


def _transformer_class():
    from ..estimators import FoundationTransformer

    class CorpusTransformer(FoundationTransformer):
        """A FoundationTransformer whose frozen backbone comes from this process's ``_MODULES``."""

        def _build_frozen(self, resolved):
            ad = self.adapter_
            key = (self._corpus_fingerprint, len(ad.report_.slots), ad.n_times_out_, tuple(map(str, ad.report_.slots)),
                   None if ad.slot_positions_ is None else np.asarray(ad.slot_positions_).tobytes())
            if key not in _MODULES:
                module = super()._build_frozen(resolved)
                _MODULES[key] = (module, self.weights_report_)
            self.module_, self.weights_report_ = _MODULES[key]
            return self.module_

    return CorpusTransformer


_CLASS = None


def transformer(job):
    """An unfitted transformer for ``job`` sharing this process's backbones."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _transformer_class()
    est = _CLASS(**job.params)
    est._corpus_fingerprint = job.fingerprint
    return est


def read_parts(rec, on_raw=None):
    """``[(entities, raw), ...]`` of a recording, not preloaded where the format allows."""
    if rec.kind == "file":
        from ..io.recordings import read_raw

        parts = [(dict(rec.entities), read_raw(rec.source))]
    elif rec.kind == "bids":
        from mne_bids import get_bids_path_from_fname, read_raw_bids

        raw = read_raw_bids(get_bids_path_from_fname(rec.source), verbose="error")
        parts = [(dict(rec.entities), raw)]
    elif rec.kind == "moabb":
        from .inputs import moabb_dataset

        # the files were found locally when the inputs were expanded (no network guard here:
        # it would also cut a dask worker's own connections)
        name, subject = rec.source.split(":")[1:]
        data = moabb_dataset(name).get_data(subjects=[int(subject)])[int(subject)]
        parts = [({**rec.entities, "session": str(ses), "run": str(run)}, raw)
                 for ses, runs in data.items() for run, raw in runs.items()]
    else:
        raise ValueError(f"unknown recording kind {rec.kind!r}")
    if on_raw is not None:
        parts = [(ent, on_raw(raw) or raw) for ent, raw in parts]
    return parts


def _one_line(err):
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _base_entry(rec):
    return {"recording_id": rec.id, "source": rec.source, "kind": rec.kind,
            **{e: rec.entities.get(e) for e in ("subject", "session", "task", "run")},
            "worker": f"{platform.node()}:{os.getpid()}"}


def embed_one(rec, job):
    """Embed one recording into its shard (or reuse a matching one); returns its manifest entry.

    Parameters
    ----------
    rec : Recording
    job : Job

    Returns
    -------
    entry : dict
        ``status`` "done" (``action`` "computed" or "reused") or "failed"
        with a one-line ``cause``.
    """
    t0 = time.perf_counter()
    entry = _base_entry(rec)
    timings = entry["timings"] = {}  # seconds: hash, check (an existing shard), write (shard), total
    try:
        entry["sha256"], entry["size"] = manifest.file_sha256s(rec.files)
        timings["hash"] = time.perf_counter() - t0
        path = shards.shard_path(job.out, rec.id)
        record = shards.shard_matches(path, job.fingerprint, entry["sha256"])
        timings["check"] = time.perf_counter() - t0 - timings["hash"]
        if record is not None:
            entry.update({k: record.get(k) for k in ("duration_s", "n_windows", "n_rejected", "preprocessing",
                                                     "warnings")},
                         status="done", action="reused", shard=str(path.relative_to(job.out)))
        else:
            entry.update(_compute(rec, job, path, entry["sha256"], timings), status="done", action="computed",
                         shard=str(path.relative_to(job.out)))
    except Exception as err:  # noqa: BLE001  (one bad recording must not stop the corpus)
        entry.update(status="failed", action="failed", cause=_one_line(err))
    entry["seconds"] = timings["total"] = round(time.perf_counter() - t0, 4)
    entry["finished"] = manifest.now()
    return entry


def _threads(n):
    """torch's intra-op threads set to ``n`` for the duration (fixed: reductions then sum in one order)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def ctx():
        if n is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(n))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return ctx()


def _compute(rec, job, path, sha256, timings):
    with _threads(job.torch_threads), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = read_parts(rec, job.on_raw)
        plans = []
        for entities, raw in parts:
            est = transformer(job).fit(raw)
            chunks = est.transform_chunks(raw)  # window starts known before any chunk is read
            plans.append((entities, raw, est, chunks))
        n_rows = sum(len(p[2].window_starts_) for p in plans)
        size = plans[0][2].embedding_size_
        duration = float(sum(raw.n_times / raw.info["sfreq"] for _, raw, _, _ in plans))
        rejected = int(sum(p[2].n_windows_rejected_ for p in plans))
        preprocessing = "\n".join(dict.fromkeys(p[2].describe_preprocessing() for p in plans))
        notes = sorted({f"{w.category.__name__}: {' '.join(str(w.message).split())}" for w in caught})
        record = {"fingerprint": job.fingerprint, "sha256": sha256, "n_rows": n_rows, "embedding_size": size,
                  "duration_s": duration, "n_windows": n_rows, "n_rejected": rejected,
                  "preprocessing": preprocessing, "warnings": notes, "source": rec.source}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_s, t = 0.0, time.perf_counter()  # shard open, writes, close and rename; not the forward passes
        with shards.shard_writer(path, n_rows, size, record) as out:
            write_s += time.perf_counter() - t
            for entities, _, est, chunks in plans:
                labels = {"recording_id": rec.id, **{k: None if v is None else str(v) for k, v in entities.items()}}
                done = 0
                for rows in chunks:
                    t = time.perf_counter()
                    out.write(rows, est.window_onsets_[done:done + len(rows)],
                              est.window_starts_[done:done + len(rows)], labels=labels)
                    write_s += time.perf_counter() - t
                    done += len(rows)
            t = time.perf_counter()
        timings["write"] = write_s + time.perf_counter() - t
    return {"duration_s": duration, "n_windows": n_rows, "n_rejected": rejected, "preprocessing": preprocessing,
            "warnings": notes}
