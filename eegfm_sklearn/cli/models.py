"""``eegfm models``: the registered model cards, their checkpoints and whether they are on disk."""

from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("models", help="list the models, their checkpoints and status",
                       description="List the registered models (one line each), or one model's card in full.")
    p.add_argument("model", nargs="?", help="show this model's card and checkpoints in full")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--cache-dir", default=None, help="Hugging Face cache folder to look for downloaded checkpoints")
    p.set_defaults(run=run)
    return p


def checkpoint_on_disk(ckpt, cache_dir=None):
    """Whether the checkpoint's files are already on this machine (no network)."""
    from ..weights import hub_cache_dir, originals_dir

    if ckpt.source == "original":
        folder = originals_dir(cache_dir) / ckpt.name
        return all((folder / name).is_file() for name in ckpt.filenames) if ckpt.filenames else folder.is_dir()
    if ckpt.repo_id is None:
        return False
    snapshots = hub_cache_dir(cache_dir) / f"models--{ckpt.repo_id.replace('/', '--')}" / "snapshots"
    names = ckpt.filenames or ("model.safetensors",)
    return snapshots.is_dir() and any(all((snap / n).exists() for n in names) for snap in snapshots.iterdir())


def _window(card):
    w, sf = card.window, card.sfreq
    text = f"{w.min_samples / sf:g}-{w.max_samples / sf:g} s" if w.max_samples else f">= {w.min_samples / sf:g} s"
    return text


def describe(card, cache_dir=None):
    """JSON-able summary of a card and its checkpoints."""
    return {
        "name": card.name,
        "status": card.status,
        "sfreq": card.sfreq,
        "channels": card.channels.describe(),
        "scaling": card.scaling.describe(),
        "filters": card.filters.describe() if card.filters else None,
        "window": _window(card),
        "embedding_size": card.embedding_size,
        "embedding_grows": card.embedding_grows_with_input,
        "embedding": card.describe_embedding(),
        "poolings": list(card.poolings),
        "notes": card.notes or card.no_weights_reason,
        "checkpoints": [{"name": c.name, "source": c.source, "repo_id": c.repo_id, "files": list(c.filenames),
                         "url": c.url, "notes": c.notes,
                         "on_disk": checkpoint_on_disk(c, cache_dir)} for c in card.checkpoints],
    }


def run(args):
    from ..cards import get_model_card, list_models

    names = [get_model_card(args.model).name] if args.model else list_models()
    infos = [describe(get_model_card(n), args.cache_dir) for n in names]
    if args.json:
        print(json.dumps(infos if not args.model else infos[0], indent=2))
    elif args.model:
        print(_card_text(infos[0]))
    else:
        print(_table(infos))
    return 0


def _table(infos):
    grows = any(i.get("embedding_grows") for i in infos)
    head = ("model", "status", "rate", "window", "embedding" + (" (+ grows with channels x window)" if grows else ""),
            "checkpoints (* on disk)")
    rows = [head]
    for i in infos:
        ckpts = ", ".join(c["name"] + ("*" if c["on_disk"] else "") for c in i["checkpoints"]) or "-"
        size = str(i["embedding_size"]) + ("+" if i.get("embedding_grows") else "")
        rows.append((i["name"], i["status"], f"{i['sfreq']:g} Hz", i["window"], size, ckpts))
    widths = [max(len(r[k]) for r in rows) for k in range(len(head) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows)


def _card_text(i):
    lines = [f"{i['name']} ({i['status']})",
             f"  rate: {i['sfreq']:g} Hz; window: {i['window']}; embedding: {i['embedding']}",
             f"  channels: {i['channels']}", f"  scaling: {i['scaling']}",
             f"  filters: {i['filters'] or 'not stated'}", f"  poolings: {', '.join(i['poolings'])}"]
    if i["notes"]:
        lines.append(f"  notes: {i['notes']}")
    lines.append("  checkpoints:" if i["checkpoints"] else "  checkpoints: none published")
    for c in i["checkpoints"]:
        where = c["repo_id"] or c["url"] or ""
        lines.append(f"    {c['name']} [{c['source']}] {where} - {'on disk' if c['on_disk'] else 'not downloaded'}")
        if c["notes"]:
            lines.append(f"      {c['notes']}")
    return "\n".join(lines)
