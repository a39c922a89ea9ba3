"""One Parquet shard per recording, written atomically and checked before it is trusted.

A shard is written by the ``eegfm embed`` Parquet writer (temporary name,
renamed into place only when every announced row is in), with the
recording id and its entities as leading string columns. Its footer holds
``eegfm_corpus``: a JSON record of the run fingerprint, the source's
SHA-256 and the row count. A shard is *complete* when its footer reads, the
record matches, the row count matches, every page passes its CRC check, and the values read
back have the SHA-256 the writer stored in the footer.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.writers import VALUES_KEY, ParquetWriter, values_sha256
from .inputs import ENTITIES

SHARDS = "shards"
META_KEY = "eegfm_corpus"
LABELS = ("recording_id",) + ENTITIES


def shard_path(out, rec_id):
    """Where the shard of recording ``rec_id`` lives under the output folder ``out``."""
    return Path(out) / SHARDS / f"{rec_id}.parquet"


def shard_writer(path, n_rows, n_cols, record):
    """A Parquet writer for a shard; ``record`` (JSON-able) goes in its footer."""
    return ParquetWriter(path, n_rows, n_cols, labels=LABELS, metadata={META_KEY: json.dumps(record)})


def shard_record(path):
    """The footer record of a complete shard, or None (missing, truncated, damaged, foreign)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return None
    try:
        meta = pq.read_metadata(path)
        record = json.loads((meta.metadata or {})[META_KEY.encode()])
        if meta.num_rows != record["n_rows"]:
            return None
        # every page's data against its CRC (the footer and page headers have none: their damage shows
        # only where it breaks the read or the row counts)
        table = pq.read_table(path, page_checksum_verification=True)
        if table.num_rows != record["n_rows"]:
            return None
        # ... and the values against the digest taken while writing (a damaged footer or page header
        # that still parses, or values changed after the write)
        if (meta.metadata or {}).get(VALUES_KEY.encode(), b"").decode() != values_sha256(table):
            return None
    except Exception:  # noqa: BLE001  (any unreadable shard is recomputed, never trusted)
        return None
    return record


def shard_matches(path, fingerprint, sha256):
    """The footer record if the shard is complete and made by this run from these bytes, else None."""
    record = shard_record(path)
    if record is None or record.get("fingerprint") != fingerprint or record.get("sha256") != sha256:
        return None
    return record


def remove_partials(out):
    """Delete temporary shards left by killed writers; returns how many."""
    folder = Path(out) / SHARDS
    leftovers = list(folder.glob("*.partial")) if folder.is_dir() else []
    for p in leftovers:
        p.unlink(missing_ok=True)
    return len(leftovers)
