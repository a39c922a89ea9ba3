"""Sphinx extension: one page per model card, written from the cards at build time.

Nothing here is hand-written per model: every fact comes from
``get_model_card(name)`` (rate, channels, units and scaling, filters, window,
embedding, checkpoints, notes) and from ``docs/throughput.json`` (written by
``benchmarks/bench_transform.py --all --json docs/throughput.json``). The pages
go to ``docs/generated/models/`` (git-ignored), rewritten on every build.
"""

from __future__ import annotations

import json
from pathlib import Path

from eegfm_sklearn.cards import get_model_card, list_models
from eegfm_sklearn.cards._table import THROUGHPUT, _window

OUT = Path("generated") / "models"
ESTIMATORS = "FoundationTransformer", "FoundationClassifier", "FoundationRegressor"


def _cell(text) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "/").replace("\n", " ").strip() or "-"


def _channels(card) -> list[str]:
    scheme = card.channels
    lines = [f"**Channels**: {scheme.describe()}."]
    names = getattr(scheme, "names", None)
    if names and "fixed" not in scheme.describe():
        lines.append(f"The vocabulary ({len(names)} names): " + ", ".join(names) + ".")
    if card.uses_positions:
        lines.append("Each channel is placed by its 3-D position: from the recording (an mne object with "
                     "a montage), from `montage=`, or from the template 10-05 montage by name.")
    return lines


def _checkpoints(card) -> list[str]:
    if not card.checkpoints:
        reason = card.no_weights_reason or "no checkpoint is published"
        return [f"None: {reason}. `weights=None` builds the architecture with random weights."]
    rows = ["| `weights=` | source | repository or release | files | contract changes | notes |",
            "|---|---|---|---|---|---|"]
    for ckpt in card.checkpoints:
        where = f"`{ckpt.repo_id}`" if ckpt.repo_id else (f"<{ckpt.url}>" if ckpt.url else "-")
        files = ", ".join(f"`{f}`" for f in ckpt.filenames) or "-"
        changes = []
        for key, value in ckpt.card_overrides.items():
            describe = getattr(value, "describe", None)
            changes.append(f"{key}: {describe()}" if callable(describe) else key)
        rows.append("| " + " | ".join(_cell(c) for c in (f"`{ckpt.name}`", ckpt.source, where, files,
                                                          "; ".join(changes), ckpt.notes)) + " |")
    return rows


def _throughput(name, speed) -> list[str]:
    s = speed.get(name)
    if not s:
        return ["Not measured yet (`benchmarks/bench_transform.py`)."]
    return [
        "Full-size architecture, random weights, CPU (`benchmarks/bench_transform.py`, numbers from "
        "`docs/throughput.json`; machine and settings in {doc}`/guide/performance`):",
        "",
        "| `transform` (windows/s) | raw braindecode forward (windows/s) | ratio | adapter (ms) |",
        "|---|---|---|---|",
        f"| {s['ours_per_s']:.3g} | {s['forward_per_s']:.3g} | {s['ratio']:.2f}x | "
        + (f"{s['adapter_ms']:g} |" if "adapter_ms" in s else "not measured |"),
        *(["", s["note"]] if s.get("note") else []),
    ]


def model_page(name, speed) -> str:
    """Markdown page of one card."""
    card = get_model_card(name)
    w = card.window
    filters = card.filters.describe() if card.filters else "not stated by the authors: none applied"
    source = f" (source: {card.filters.source})" if card.filters and card.filters.source else ""
    example = card.checkpoints[0].name if card.checkpoints else None
    weights = f'"{example}"' if example else "None"
    lines = [
        f"# {card.name}",
        "",
        f"**Status**: {card.status}. **braindecode class**: `{card.module_path}`.",
        "",
        "```python",
        "from eegfm_sklearn import FoundationTransformer",
        f'est = FoundationTransformer("{card.name}", weights={weights},',
        "                            sfreq=500, ch_names=ch_names)  # your recording's rate and names",
        "```",
        "",
        "## Input contract",
        "",
        f"**Sampling rate**: {card.sfreq:g} Hz; any input rate is resampled to it.",
        "",
        *_channels(card),
        "",
        "**Units and scaling**: the input is converted to µV (numpy: `units=`, default µV; mne objects: V), "
        f"then {card.scaling.describe()}."
        + (f" The scaling adds {card.scaling.n_extra_channels} channel(s)." if card.scaling.n_extra_channels
           else ""),
        "",
        f"**Pretraining filters** (applied with `filters=\"card\"`, the default): {filters}{source}.",
        "",
        f"**Window**: {_window(card)} ({w.min_samples} samples at {card.sfreq:g} Hz at least"
        + (f", {w.max_samples} at most" if w.max_samples else "") + "). Shorter or longer trials: "
        "`window_policy=\"pad\"` or `\"split\"` (see {doc}`/guide/montage`).",
        "",
        "## Embedding and fine-tuning",
        "",
        f"**Embedding size**: {card.embedding_size} with the default pooling (`{card.default_pooling}`); "
        "poolings: " + ", ".join(f"`{p}`" for p in card.poolings) + ".",
        "",
        f"**LoRA targets**: {', '.join(f'`{t}`' for t in card.lora_targets) or 'none declared'}; "
        f"transformer blocks at `{card.block_path or 'not declared'}`.",
        "",
        "## Checkpoints",
        "",
        *_checkpoints(card),
        "",
        "## Throughput",
        "",
        *_throughput(name, speed),
    ]
    if card.notes:
        lines += ["", "## Notes", "", card.notes]
    return "\n".join(lines) + "\n"


def index_page(names) -> str:
    """The models' index: the checked-in table (docs/models.md) and the pages."""
    lines = [
        "# Models",
        "",
        "One page per model card, generated from the cards when the documentation is built "
        "(`list_models()`, `get_model_card(name)`). The table below is `docs/models.md`, generated by "
        "`python -m eegfm_sklearn.cards._table` and checked by the test suite.",
        "",
        "```{include} ../../models.md",
        ":start-line: 1",
        "```",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *names,
        "```",
    ]
    return "\n".join(lines) + "\n"


def write_pages(srcdir) -> list[Path]:
    """Write every model page (and the index) under ``srcdir/generated/models``."""
    out = Path(srcdir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    speed = json.loads(THROUGHPUT.read_text()) if THROUGHPUT.is_file() else {}
    names = list_models()
    written = []
    for name in names:
        path = out / f"{name}.md"
        _write_if_changed(path, model_page(name, speed))
        written.append(path)
    _write_if_changed(out / "index.md", index_page(names))
    for stale in set(out.glob("*.md")) - set(written) - {out / "index.md"}:
        stale.unlink()  # a card that was removed
    return written


def _write_if_changed(path, text):
    # unchanged files keep their mtime, so Sphinx does not rebuild them
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def _on_builder_inited(app):
    write_pages(app.srcdir)


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
