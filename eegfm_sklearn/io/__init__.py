"""Files in and out: recordings read without preloading, embeddings written chunk by chunk.

Shared by the command line (``cli/``) and the corpus runner (``corpus/``), which both depend on
this package, never on each other's modules.
"""
