"""Whole corpora: many recordings embedded into Parquet shards with a manifest, resumable, in parallel.

``inputs`` says what to embed, ``shards`` how each recording's rows are
stored and checked, ``manifest`` what the run records, ``worker`` what one
task does, ``run`` the public functions.
"""

from .manifest import read_manifest
from .run import embed_recordings, read_embeddings

__all__ = ["embed_recordings", "read_embeddings", "read_manifest"]
