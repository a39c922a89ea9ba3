"""The model table of the docs, generated from the cards (``docs/models.md``).

Run ``python -m eegfm_sklearn.cards._table > docs/models.md`` after changing a
card; a test checks that the file is current. Throughput comes from
``docs/throughput.json``, written by ``benchmarks/bench_transform.py --all
--json docs/throughput.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import get_model_card, list_models

THROUGHPUT = Path(__file__).resolve().parents[2] / "docs" / "throughput.json"


def _params(card):
    """Parameter count of the full-size backbone (builds it; needs braindecode)."""
    w = card.window
    module, _ = card.build_standard_module(n_times=max(w.min_samples, w.multiple))
    return sum(p.numel() for p in module.parameters())


def _short(text, limit=70):
    return text if len(text) <= limit else text[: text.rfind(",", 0, limit)] + ", ..."


def _window(card):
    w, sf = card.window, card.sfreq
    text = f"{w.min_samples / sf:g} s"
    text += f" - {w.max_samples / sf:g} s" if w.max_samples else " or longer"
    if w.multiple > 1:
        text += f", multiple of {w.multiple} samples"
    return text


def model_table(with_params=True) -> str:
    """Markdown table of every registered card."""
    speed = json.loads(THROUGHPUT.read_text()) if THROUGHPUT.is_file() else {}
    head = ["model", "status", "params", "rate", "channels", "scaling", "filters", "window", "embedding",
            "checkpoints", "parity with the authors' code", "CPU windows/s (vs raw)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in list_models():
        card = get_model_card(name)
        params = f"{_params(card) / 1e6:.1f} M" if with_params else ""
        ckpts = ", ".join(f"`{c.name}`" for c in card.checkpoints) or "none published"
        s = speed.get(name)
        thr = f"{s['ours_per_s']:.3g} ({s['ratio']:.2f}x)" if s else "not measured"
        if s and s.get("stale"):  # the card changed since; the figure is kept, marked, until re-measured
            thr += " (stale: see the performance guide)"
        cells = [f"`{name}`", card.status, params, f"{card.sfreq:g} Hz", _short(card.channels.describe()),
                 card.scaling.describe(), card.filters.describe() if card.filters else "not stated",
                 _window(card), str(card.embedding_size), ckpts, card.parity or "not checked", thr]
        rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(rows)


def main():
    print("# Models\n")
    print("Generated from the model cards by `python -m eegfm_sklearn.cards._table > docs/models.md`;")
    print("`get_model_card(name)` holds the full facts (notes, checkpoints' repos and files).")
    print("Throughput: `benchmarks/bench_transform.py` (our `transform` vs the raw braindecode forward on")
    print("the same windows, 2-core CPU). Parity: the card's features against its authors' own model code")
    print("(fixtures in `tests/parity/`; how they are made: the user guide, \"Parity with the authors' code\").\n")
    print(model_table())


if __name__ == "__main__":
    main()
