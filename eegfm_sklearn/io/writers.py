"""Embedding files written row block by row block, so memory stays flat in the recording's length.

Both writers fill a temporary file next to the target and move it into
place only when every row is written: a failed run leaves no truncated
output under the requested name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

SUFFIXES = (".npy", ".parquet")


def check_output(path):
    """``path`` as a Path if its suffix is a supported format, else ValueError."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"output {str(path)!r} must end with {' or '.join(SUFFIXES)}.")
    if not path.parent.exists():
        raise ValueError(f"the folder of {str(path)!r} does not exist; create it first.")
    if path.is_dir():  # found now, not after the whole recording is embedded
        raise ValueError(f"output {str(path)!r} is a folder; give a file name inside it, e.g. {str(path / 'emb')!r}"
                         f"{path.suffix}.")
    if path.suffix.lower() == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ValueError("writing .parquet needs pyarrow (pip install pyarrow); or write .npy.")
    return path


class _Writer:
    def __init__(self, path, n_rows, n_cols):
        self.path, self.n_rows, self.n_cols = Path(path), int(n_rows), int(n_cols)
        # one temporary name per process: a rescheduled task never writes into another's file
        self.tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
        self.written = 0

    def __enter__(self):
        self._open()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._close()
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return False
        if self.written != self.n_rows:  # never publish a short file
            self.tmp.unlink(missing_ok=True)
            raise RuntimeError(f"{self.written} rows written of {self.n_rows} announced.")
        os.replace(self.tmp, self.path)
        return False

    def write(self, rows, onsets, starts, labels=None):
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_cols or self.written + len(rows) > self.n_rows:
            raise RuntimeError(f"rows of shape {rows.shape} do not fit a ({self.n_rows}, {self.n_cols}) output "
                               f"holding {self.written} rows.")
        self._write(rows, np.asarray(onsets, dtype=np.float64), np.asarray(starts, dtype=np.int64),
                    **({"labels": labels} if labels is not None else {}))
        self.written += len(rows)


class NpyWriter(_Writer):
    """A ``.npy`` array of shape (n_rows, n_cols), float32, appended in order."""

    def _open(self):
        self.file = open(self.tmp, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                  "shape": (self.n_rows, self.n_cols)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def _write(self, rows, onsets, starts):
        self.file.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())

    def _close(self):
        self.file.close()


class ParquetWriter(_Writer):
    """A Parquet table: ``onset`` (s, raw.times clock), ``start_sample`` and ``emb_0 ...``, one row group per block.

    ``labels``: names of string columns placed first (e.g. a recording id and
    its BIDS entities), given per block as ``write(..., labels={name: value})``
    (None: a null). ``metadata``: str -> str pairs stored in the file's footer.
    Pages carry CRC checksums, verified by readers that ask for it.
    """

    def __init__(self, path, n_rows, n_cols, labels=(), metadata=None):
        super().__init__(path, n_rows, n_cols)
        self.labels, self.metadata = tuple(labels), dict(metadata or {})

    def _open(self):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("Writing .parquet needs pyarrow (pip install pyarrow); or write .npy.") from None
        self._pa = pa
        self.columns = [f"emb_{i}" for i in range(self.n_cols)]
        fields = [pa.field(c, pa.string()) for c in self.labels]
        fields += [pa.field("onset", pa.float64()), pa.field("start_sample", pa.int64())]
        self.schema = pa.schema(fields + [pa.field(c, pa.float32()) for c in self.columns],
                                metadata=self.metadata or None)
        self.file = pq.ParquetWriter(str(self.tmp), self.schema, write_page_checksum=True)
        self._digests = [hashlib.sha256() for _ in range(3)]

    def _write(self, rows, onsets, starts, labels=None):
        pa = self._pa
        labels = labels or {}
        arrays = [pa.array([labels.get(c)] * len(rows), pa.string()) for c in self.labels]
        arrays += [pa.array(onsets), pa.array(starts)] + [pa.array(rows[:, i]) for i in range(self.n_cols)]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self.file.write_table(table)
        for digest, part in zip(self._digests, _value_parts(table, self.columns)):
            digest.update(part)

    def _close(self):
        # page CRCs leave the footer and the page headers uncovered: a digest of the values read
        # back tells a shard whose damage still parses (see values_sha256)
        self.file.add_key_value_metadata({VALUES_KEY: _combine(self._digests)})
        self.file.close()


VALUES_KEY = "eegfm_values_sha256"


def _value_parts(table, columns):
    """The bytes a Parquet table's digest covers: embeddings row-major (float32), onsets, start samples."""
    emb = np.stack([table.column(c).to_numpy() for c in columns], axis=1).astype(np.float32, copy=False)
    return (np.ascontiguousarray(emb).tobytes(), table.column("onset").to_numpy().astype(np.float64).tobytes(),
            table.column("start_sample").to_numpy().astype(np.int64).tobytes())


def _combine(digests):
    return hashlib.sha256(b"".join(d.digest() for d in digests)).hexdigest()


def values_sha256(table):
    """The digest ``ParquetWriter`` stores under ``VALUES_KEY``, recomputed from a table read back.

    Streaming SHA-256 over rows in order: the same whatever blocks the writer wrote.
    """
    columns = [c for c in table.column_names if c.startswith("emb_")]
    digests = [hashlib.sha256(part) for part in _value_parts(table, columns)]
    return _combine(digests)


def check_writer(path):
    """Fail before any work when ``path``'s format needs a package that is not installed."""
    import importlib.util

    if Path(path).suffix.lower() == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError("Writing .parquet needs pyarrow (pip install pyarrow); or write .npy.")


def writer_for(path, n_rows, n_cols):
    """The writer of ``path``'s format."""
    return (ParquetWriter if Path(path).suffix.lower() == ".parquet" else NpyWriter)(path, n_rows, n_cols)
