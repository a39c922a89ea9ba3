"""Turn a ``weights=`` value into converted tensors and their provenance.

Accepted values (see :func:`resolve_weights`): a registry name of the card,
a Hugging Face repo id (``"owner/name"`` or ``"owner/name@revision"``), a
local directory (``save_pretrained`` output or an original release), a
local file, or a dict naming each file of a multi-file release.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import WeightsError
from .formats import convert, detect_format, formats_for, get_format
from .known import owner_of_checkpoint, plain_classes
from .safe import inert_names, read_weight_file, sha256_file

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
# Preference order inside a save_pretrained folder / hub repo.
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ORIGINALS_SUBDIR = "eegfm_sklearn"


@dataclass
class ResolvedWeights:
    """Converted weights and where they came from.

    Attributes
    ----------
    card : ModelCard
        Effective card: the checkpoint's own contract applied (channels,
        scaling...) for registry names and recognised release files.
    state_dict : dict
        Tensors in braindecode key names, not yet fitted to a module.
    source : str
        Registry name, ``repo@revision`` or path.
    fmt : str
        On-disk layout that was converted.
    files : dict
        Path -> SHA-256 of every file read.
    config : dict or None
        ``config.json`` of a braindecode folder / repo, if any.
    checkpoint : Checkpoint or None
        The registry entry, when one applies.
    dropped : dict
        Path of every tensor of the file(s) the converter left out -> why.
    merged : dict
        Path of every source tensor folded into a converted one -> its key.
    inert : list of str
        Objects the file's pickle names that were left as inert placeholders
        (never imported nor run; see ``weights/safe.py``).
    """

    card: Any
    state_dict: dict
    source: str
    fmt: str
    files: dict = field(default_factory=dict)
    config: dict | None = None
    checkpoint: Any = None
    dropped: dict = field(default_factory=dict)
    merged: dict = field(default_factory=dict)
    inert: list = field(default_factory=list)


# ------------------------------------------------------------ environment
def _env_true(name):
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """Whether Hugging Face downloads are off (``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or _env_true("HF_HUB_OFFLINE")


def hub_cache_dir(cache_dir=None) -> Path:
    """Hugging Face cache folder: ``cache_dir``, ``HF_HUB_CACHE``, ``HF_HOME/hub``."""
    from huggingface_hub import constants

    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def originals_dir(cache_dir=None) -> Path:
    """Folder where authors' releases are placed by hand, one subfolder per name."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser() / ORIGINALS_SUBDIR
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / ORIGINALS_SUBDIR
    return hub_cache_dir().parent / ORIGINALS_SUBDIR


# ------------------------------------------------------------- contracts
def effective_card(card, ckpt):
    """The card with ``ckpt``'s contract applied (channels, scaling, post-build tweak...).

    Returns
    -------
    card : ModelCard
    """
    names = {f.name for f in dataclasses.fields(card)}
    unknown = sorted(set(ckpt.card_overrides) - names)
    if unknown:
        raise WeightsError(f"Checkpoint {ckpt.name!r} overrides unknown card fields {unknown}.")
    return card.for_checkpoint(ckpt)


def _safe_globals(card):
    """Plain-data classes allowed in pickles: the card's, then every registered model's."""
    return plain_classes(card.safe_globals)


def _check_sha(ckpt, files):
    expected = dict(ckpt.sha256 or {})
    for path, digest in files.items():
        want = expected.get(Path(path).name)
        if want is not None and want.lower() != digest:
            raise WeightsError(
                f"SHA-256 mismatch for {path} (checkpoint {ckpt.name!r}): file has "
                f"{digest}, the registry expects {want.lower()}. The file is "
                "corrupt or a different release: delete it and download it again."
            )


def _finish(obj, card, files, source, *, ckpt=None, config=None, check_sha=True):
    if ckpt is not None:
        if check_sha:
            _check_sha(ckpt, files)
        card = effective_card(card, ckpt)
        fmt = ckpt.fmt
    else:
        fmt = detect_format(obj, card, where=f"Weights from {source}")
    converted = convert(obj, fmt, card)
    return ResolvedWeights(
        card=card,
        state_dict=dict(converted),
        source=source,
        fmt=fmt,
        files=files,
        config=config,
        checkpoint=ckpt,
        dropped=converted.dropped,
        merged=converted.merged,
        inert=inert_names(obj),
    )


# ------------------------------------------------------------ local files
def _release_for(card, fmt_name, names):
    """The card's original-release checkpoint these files are, or None.

    The only release of that layout, else the one whose file names match.
    The layout must agree either way, so a renamed file of another layout
    is never given a release's contract. Only the contract is taken: a
    user's own file (fine-tuned, renamed) is not held to the release's
    SHA-256, which registry names enforce.
    """
    # The authors' own layout, wherever it is published (their files, or the Hub: ZUNA).
    same_fmt = [c for c in card.checkpoints if c.fmt == fmt_name]
    if len(same_fmt) == 1:
        return same_fmt[0]
    hits = [c for c in same_fmt if set(c.filenames) == set(names)]
    return hits[0] if len(hits) == 1 else None


def _read_parts(card, parts: Mapping, source, ckpt=None):
    for fmt in formats_for(card):
        if fmt.parts and set(parts) == {p for p, _ in fmt.parts}:
            break
    else:
        multi = {f.name: [p for p, _ in f.parts] for f in formats_for(card) if f.parts}
        raise WeightsError(
            f"A dict of files {sorted(parts)} matches no multi-file layout of "
            f"{card.name!r} (known: {multi or 'none'})."
        )
    paths = {part: Path(os.fspath(p)).expanduser() for part, p in parts.items()}
    obj = {part: read_weight_file(p, _safe_globals(card)) for part, p in paths.items()}
    files = {str(p): sha256_file(p) for p in paths.values()}
    check_sha = ckpt is not None
    if ckpt is None and fmt.matches(obj):
        ckpt = _release_for(card, fmt.name, [p.name for p in paths.values()])
    return _finish(obj, card, files, source, ckpt=ckpt, check_sha=check_sha)


def _multi_part_siblings(card, folder: Path):
    """``{part: path}`` of a multi-file release complete in ``folder``, or None."""
    for fmt in formats_for(card):
        if fmt.parts and all((folder / name).is_file() for _, name in fmt.parts):
            return {part: folder / name for part, name in fmt.parts}
    return None


def _resolve_file(path: Path, card, source, ckpt=None, config=None, match_release=True):
    for fmt in formats_for(card):
        names = [name for _, name in fmt.parts]
        if path.name in names:
            parts = _multi_part_siblings(card, path.parent)
            if parts is None:
                raise WeightsError(
                    f"{path.name} is one file of the {fmt.name!r} release, which has "
                    f"{names}; pass their folder, or a dict "
                    f"{ {p: '...' for p, _ in fmt.parts} }."
                )
            return _read_parts(card, parts, source, ckpt)
    obj = read_weight_file(path, _safe_globals(card))
    files = {str(path): sha256_file(path)}
    check_sha = ckpt is not None
    if ckpt is None and match_release:
        fmt_name = detect_format(obj, card, where=f"Weights from {source}")
        if not get_format(fmt_name, card).generic:
            ckpt = _release_for(card, fmt_name, [path.name])
    return _finish(obj, card, files, source, ckpt=ckpt, config=config, check_sha=check_sha)


def _with_saved_contract(resolved, card, config):
    """Apply the contract a folder written by ``save_pretrained`` records."""
    if "eegfm_sklearn" not in config:
        return resolved
    model = config.get("model")
    if isinstance(model, str) and model != card.name:
        raise WeightsError(
            f"{resolved.source} holds a {model!r} model, not {card.name!r}; pass model={model!r}."
        )
    contract = config.get("checkpoint")
    if not contract:
        return resolved
    return dataclasses.replace(resolved, card=effective_card(card, card.get_checkpoint(contract)))


def _read_config(folder: Path):
    import json

    cfg = folder / "config.json"
    if not cfg.is_file():
        return None
    try:
        return json.loads(cfg.read_text())
    except (OSError, ValueError) as err:
        raise WeightsError(f"{cfg} is not valid JSON ({err}).") from None


def _resolve_dir(folder: Path, card, source, ckpt=None):
    for name in HUB_WEIGHT_FILES:
        if (folder / name).is_file():
            config = _read_config(folder)
            resolved = _resolve_file(folder / name, card, source, ckpt, config=config, match_release=False)
            return _with_saved_contract(resolved, card, config or {})
    parts = _multi_part_siblings(card, folder)
    if parts is not None:
        return _read_parts(card, parts, source, ckpt)
    candidates = sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    if len(candidates) == 1:
        return _resolve_file(candidates[0], card, source, ckpt)
    listing = sorted(p.name for p in folder.iterdir())[:20]
    raise WeightsError(
        f"Cannot tell which weights to load from folder {folder} (it holds "
        f"{listing}). Expected config.json + model.safetensors (or "
        "pytorch_model.bin), a complete multi-file release, or exactly one "
        f"weight file ({', '.join(_WEIGHT_SUFFIXES)}); pass the file itself."
    )


# ----------------------------------------------------------- Hugging Face
# huggingface_hub retries an unreachable Hub for about 25 s per file before it
# falls back to the cache; one short probe first tells an offline machine at once.
HUB_PROBE_TIMEOUT_S = 5


def hub_endpoint() -> str:
    """The Hub's address (``HF_ENDPOINT``, default https://huggingface.co)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_unreachable(endpoint=None, timeout=HUB_PROBE_TIMEOUT_S):
    """Why the Hub cannot be reached now (one try, ``timeout`` seconds), or None if it answers.

    Any HTTP answer counts as reachable; the request goes through
    huggingface_hub's own session (its proxies and certificates).
    """
    from huggingface_hub.utils import get_session

    endpoint = endpoint or hub_endpoint()
    try:
        get_session().head(endpoint, timeout=timeout)
    except Exception as err:  # noqa: BLE001 - any failure to get an answer means "unreachable"
        cause = str(err).splitlines()[0][:160] if str(err) else ""
        return f"{endpoint} could not be reached ({type(err).__name__}{': ' + cause if cause else ''})"
    return None


def is_repo_id(text) -> bool:
    """Whether ``text`` reads as a Hugging Face repo id, ``owner/name[@revision]``."""
    return isinstance(text, str) and _REPO_ID.match(text) is not None


def hub_file(repo_id, filename, *, revision=None, cache_dir=None, required=True, **download_kwargs):
    """Local path of one file of a Hugging Face repo, downloaded or from the cache.

    One short probe first: on a machine where the Hub cannot be reached (or
    with ``HF_HUB_OFFLINE=1``) the cache answers at once instead of after
    huggingface_hub's retries.

    Parameters
    ----------
    repo_id : str
        ``"owner/name"``.
    filename : str
        Path of the file in the repo.
    revision : str or None
        Branch, tag or commit (default: main).
    cache_dir : str or Path or None
        Hugging Face cache folder (default: ``HF_HUB_CACHE`` / ``HF_HOME``).
    required : bool
        When False, a repo without the file gives None instead of an error.
    **download_kwargs
        Passed to ``huggingface_hub.hf_hub_download`` (e.g. ``token``).

    Returns
    -------
    path : Path or None
    """
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    cache = hub_cache_dir(cache_dir)
    why = "downloads are off (HF_HUB_OFFLINE=1)" if hub_offline() else hub_unreachable()
    try:
        path, err = _hub_get(repo_id, filename, revision, cache, why is not None, **download_kwargs)
    except HfHubHTTPError as err:  # repo/revision missing, gated, server error
        raise WeightsError(f"Hugging Face repo {repo_id!r} (revision {revision or 'main'}) could not be "
                           f"read: {str(err).splitlines()[0]}") from None
    if path is None and (required or not isinstance(err, EntryNotFoundError)):
        raise _hub_not_found(repo_id, [filename], revision, cache, [err], why)
    return path


def _hub_get(repo_id, filename, revision, cache_dir, local_only, **download_kwargs):
    """Path of a cached/downloaded hub file, or an exception describing why not."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=str(cache_dir),
            local_files_only=local_only,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            **download_kwargs,
        )
        return Path(path), None
    except LocalEntryNotFoundError as err:  # offline / unreachable, not cached
        return None, err
    except EntryNotFoundError as err:  # reachable, file absent from the repo
        return None, err


def _hub_not_found(repo_id, filenames, revision, cache_dir, errors, why, note=""):
    from huggingface_hub.errors import LocalEntryNotFoundError

    rev = revision or "main"
    if any(isinstance(e, LocalEntryNotFoundError) for e in errors):
        folder = f"models--{repo_id.replace('/', '--')}"
        return WeightsError(
            f"Cannot get {' or '.join(filenames)} of Hugging Face repo {repo_id!r} (revision {rev}): "
            f"not in the cache {cache_dir}, and not downloaded: {why or 'the Hub could not be reached'}.\n"
            "Provide the weights in one of three ways:\n"
            "  1. run once with network (HF_HUB_OFFLINE unset): they are downloaded into that cache;\n"
            f"  2. point HF_HOME or HF_HUB_CACHE (or cache_dir=) at a cache holding {folder}, or "
            f"place the file by hand: on a machine with internet run `hf download {repo_id} "
            f"{filenames[0]} config.json --cache-dir <dir>` and copy <dir>/{folder} into {cache_dir};\n"
            f"  3. download {hub_endpoint()}/{repo_id}/tree/{rev} into a folder and pass that "
            "folder (or its weight file) as weights=." + note
        )
    return WeightsError(
        f"Hugging Face repo {repo_id!r} (revision {rev}) has none of {list(filenames)}.{note}"
    )


def _resolve_hub(repo_id, card, *, filenames, revision, cache_dir, source, ckpt=None, note=""):
    from huggingface_hub.errors import HfHubHTTPError

    cache = hub_cache_dir(cache_dir)
    why = "downloads are off (HF_HUB_OFFLINE=1)" if hub_offline() else hub_unreachable()
    errors = []
    try:
        for name in filenames:
            path, err = _hub_get(repo_id, name, revision, cache, local_only=why is not None)
            if path is not None:
                break
            errors.append(err)
        else:
            raise _hub_not_found(repo_id, filenames, revision, cache, errors, why, note)
        cfg_path, _ = _hub_get(repo_id, "config.json", revision, cache, local_only=why is not None)
    except HfHubHTTPError as err:  # repo/revision missing, gated, server error
        raise WeightsError(
            f"Hugging Face repo {repo_id!r} (revision {revision or 'main'}) could "
            f"not be read: {str(err).splitlines()[0]}{note}"
        ) from None
    config = _read_config(cfg_path.parent) if cfg_path is not None else None
    return _resolve_file(path, card, source, ckpt, config=config, match_release=False)


# -------------------------------------------------------------- registry
def _resolve_original(ckpt, card, cache_dir):
    folder = originals_dir(cache_dir) / ckpt.name
    paths = [folder / name for name in ckpt.filenames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        hub = [c.name for c in card.checkpoints if c.source == "hub"]
        raise WeightsError(
            f"Checkpoint {ckpt.name!r} is the authors' own release, which is not "
            f"downloaded automatically. Get {list(ckpt.filenames)} from "
            f"{ckpt.url or 'the authors'} and put them in {folder} (or pass the "
            f"file/folder itself as weights=). "
            + (f"Hub conversions that download automatically: {hub}." if hub else
               f"{card.name!r} has no copy on the Hugging Face Hub: its weights exist only as the "
               "authors' files.")
        )
    fmt = get_format(ckpt.fmt, card)
    if fmt.parts:
        by_name = dict((name, part) for part, name in fmt.parts)
        parts = {by_name[p.name]: p for p in paths}
        return _read_parts(card, parts, ckpt.name, ckpt)
    return _resolve_file(paths[0], card, ckpt.name, ckpt)


def _resolve_registry(ckpt, card, cache_dir, revision):
    if ckpt.source == "hub":
        rev = revision or "main"
        return _resolve_hub(
            ckpt.repo_id,
            card,
            filenames=tuple(ckpt.filenames) or HUB_WEIGHT_FILES,
            revision=revision,
            cache_dir=cache_dir,
            source=f"{ckpt.name} ({ckpt.repo_id}@{rev})",
            ckpt=ckpt,
        )
    if ckpt.source == "original":
        return _resolve_original(ckpt, card, cache_dir)
    raise WeightsError(f"Checkpoint {ckpt.name!r} has unknown source {ckpt.source!r}.")


def _other_card_hint(name):
    model = owner_of_checkpoint(name)
    return f" {name!r} is a checkpoint of model {model!r}." if model else ""


def resolve_weights(weights, card, *, cache_dir=None, revision=None):
    """Find, read (code-free) and convert pretrained weights.

    Parameters
    ----------
    weights : str, os.PathLike or dict
        One of: a registry name of ``card`` (``"labram-base"``); a Hugging
        Face repo id ``"owner/name"`` (optionally ``"owner/name@rev"``); a
        local folder (``config.json`` + ``model.safetensors`` or
        ``pytorch_model.bin``, or an original release); a local file; a
        dict naming the files of a multi-file release
        (``{"encoder": ..., "contextualizer": ...}`` for BENDR).
    card : ModelCard
        The model; braindecode's layout and its ``weight_formats`` may apply.
    cache_dir : str or Path, optional
        Hugging Face cache folder (default: ``HF_HUB_CACHE`` /
        ``HF_HOME/hub``). Authors' releases are looked up in
        ``<cache_dir>/eegfm_sklearn/<name>/``.
    revision : str, optional
        Hub branch, tag or commit.

    Returns
    -------
    resolved : ResolvedWeights

    Raises
    ------
    WeightsError
        With what went wrong and how to fix it.
    """
    if isinstance(weights, Mapping):
        source = ", ".join(f"{k}={os.fspath(v)}" for k, v in weights.items())
        return _read_parts(card, weights, source)
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(
            f"weights= must be a name, repo id, path or dict of paths, not {type(weights).__name__}."
        )
    text = os.fspath(weights)
    path = Path(text).expanduser()
    if path.is_dir():
        return _resolve_dir(path, card, str(path))
    if path.is_file():
        return _resolve_file(path, card, str(path))
    if path.is_symlink():  # a loop or a link to nowhere: say so, not "not an existing path"
        from ..utils.paths import why_missing

        raise WeightsError(f"weights={text!r} {why_missing(path)}.")
    names = [c.name for c in card.checkpoints]
    if text in names:
        return _resolve_registry(card.get_checkpoint(text), card, cache_dir, revision)
    if is_repo_id(weights):
        repo_id, _, rev = text.partition("@")
        rev = rev or revision
        return _resolve_hub(
            repo_id,
            card,
            filenames=HUB_WEIGHT_FILES,
            revision=rev,
            cache_dir=cache_dir,
            source=f"{repo_id}@{rev or 'main'}",
            # "a/b" may also have been meant as a local path.
            note=f" (No local path {text!r} exists either.)",
        )
    if not card.checkpoints:
        raise WeightsError(
            f"No pretrained checkpoint of {card.name!r} is published"
            + (f" ({card.no_weights_reason})" if card.no_weights_reason else "")
            + f"; weights={text!r} is not an existing path either. Use weights=None (random "
            "initialisation) or a folder written by save_pretrained."
        )
    raise WeightsError(
        f"weights={text!r} is not an existing path, a Hugging Face repo id "
        f"('owner/name'), nor a checkpoint of {card.name!r} (known: {names})."
        + _other_card_hint(text)
    )
