"""The ``eegfm`` command line: models, embed, benchmark, convert.

Exit codes: 0 success; 2 usage error (argparse); 1 failure, with a one-line
cause on stderr (no traceback for expected errors: bad input, missing
files or packages, weights that do not load).

Each subcommand lives in its own module and registers itself with
``add_parser(subparsers)``, setting ``run(args) -> int`` as its handler.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from . import bench, convert, embed, models

# Errors a user can fix from their side; anything else is a bug and keeps its traceback.
EXPECTED = (ValueError, OSError, ImportError, KeyError, LookupError)


def build_parser():
    """The ``eegfm`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="eegfm", description="EEG foundation models from the command line (eegfm_sklearn).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (models, embed, bench, convert):
        module.add_parser(sub)
    return parser


def _version():
    from .. import __version__

    return __version__


def one_line(err):
    """An exception as one line: its type for bare ones, its message's whitespace collapsed."""
    text = " ".join(str(err).split())
    if isinstance(err, KeyError) and len(err.args) == 1:
        text = f"missing key {err.args[0]!r}"
    return text or type(err).__name__


@contextlib.contextmanager
def mne_logs_to_stderr():
    """mne logs to stdout by default; a command's stdout is its result, so its log lines go to stderr."""
    handlers = [h for h in logging.getLogger("mne").handlers
                if type(h) is logging.StreamHandler and h.stream is not sys.stderr]  # not its FileHandlers
    previous = [h.setStream(sys.stderr) for h in handlers]
    try:
        yield
    finally:
        for h, stream in zip(handlers, previous):
            h.setStream(stream)


def main(argv=None):
    """Run ``eegfm`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Parameters
    ----------
    argv : list of str or None

    Returns
    -------
    code : int
        0 success, 1 failure (cause printed on stderr). Usage errors and
        ``--help`` exit through ``SystemExit`` (2 and 0), as argparse does.
    """
    args = build_parser().parse_args(argv)
    try:
        with mne_logs_to_stderr():
            return int(args.run(args) or 0)
    except EXPECTED as err:
        print(f"eegfm {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eegfm {args.command}: interrupted", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
