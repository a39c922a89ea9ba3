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
import re
import sys
import warnings

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


# The estimators' params as the command line spells them: errors speak the CLI's language.
OPTIONS = {"weights": "--weights", "model_kwargs": "--model-kwargs", "batch_size": "--batch-size",
           "random_state": "--random-state", "window_seconds": "--window", "stride_seconds": "--stride",
           "device": "--device", "model": "--model"}
MAX_LINE = 400  # characters of an error line; the rest is cut


def one_line(err, max_chars=MAX_LINE):
    """An exception as one readable line: params named as options, whitespace collapsed, length bounded."""
    text = " ".join(str(err).split())
    if isinstance(err, KeyError) and len(err.args) == 1:
        text = f"missing key {err.args[0]!r}"
    for param, option in OPTIONS.items():
        text = re.sub(rf"(?<![\w-]){param}=", f"{option} ", text)
    text = re.sub(r"\[([^\[\]]*)\]", _short_list, text)
    if len(text) > max_chars:  # cut the middle: the cause comes first, what to do last
        head = max_chars // 2
        text = text[:head].rsplit(" ", 1)[0] + " ... " + text[-(max_chars - head - 5):].split(" ", 1)[-1]
    return text or type(err).__name__


def _short_list(match, keep=4, most=20):
    """A long ``[a, b, c, ...]`` (over ``most`` items, e.g. a recording's channels) as its first items and count."""
    items = match.group(1).split(", ")
    if len(items) <= most:
        return match.group(0)
    return f"[{', '.join(items[:keep])}, ... {items[-1]}] ({len(items)} in all)"


def _check_models(parser, args):
    """An unknown --model is a usage error (exit 2), found before any work."""
    if args.command == "models":  # `eegfm models NAME` answers an unknown name itself
        return
    names = getattr(args, "models", None) or ([args.model] if getattr(args, "model", None) else [])
    if not names:
        return
    from ..cards import list_models

    known = list_models()
    unknown = [n for n in names if str(n).lower() not in known]
    if unknown:
        parser.error(f"unknown --model {', '.join(unknown)}; choose from {', '.join(known)} (see `eegfm models`)")


@contextlib.contextmanager
def warnings_as_lines(command):
    """Warnings printed as ``eegfm CMD: warning: ...``, one line, no source file or code line, once each.

    Once per text: a warning raised again for each chunk of a recording (mne's filter-length
    notice, from calls at other code lines) says nothing new the second time.
    """
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = f"eegfm {command}: warning: {one_line(message)}"
        if text not in shown:
            shown.add(text)
            print(text, file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


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
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_models(parser, args)
    try:
        with mne_logs_to_stderr(), warnings_as_lines(args.command):
            return int(args.run(args) or 0)
    except EXPECTED as err:
        print(f"eegfm {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eegfm {args.command}: interrupted", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
