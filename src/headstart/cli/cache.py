"""``headstart cache``: where the embedding cache is, what it holds; ``--clear`` deletes it."""

from __future__ import annotations

import json

import typer

from .app import JSON_OUT, app, out


@app.command()
def cache(
    clear: bool = typer.Option(False, "--clear", help="Delete the cache; vectors are recomputed when next needed."),
    json_out: bool = JSON_OUT,
) -> None:
    """Where the embedding cache is, its size and how many texts' vectors it holds; --clear deletes it."""
    from ..cache import EmbeddingCache

    store = EmbeddingCache()
    found = store.info()
    if clear:
        found["freed_bytes"] = store.clear()
    if json_out:
        out.print_json(json.dumps(found))
        return
    configs = found["feature_configs"]
    if found["corrupt"]:
        where = ", if its folder is writable" if found["read_only"] else ""
        held = f"a damaged file (it is moved aside and rebuilt when next used{where})"
    elif found["unreadable"]:
        held = f"unreadable ({found['unreadable']}; vectors are encoded without it)"
    else:
        held = f"{found['vectors']:,} texts' vectors in {configs} feature config{'' if configs == 1 else 's'}"
        if found["read_only"]:
            held += " (read-only: its vectors are read, but new ones are not added)"
    out.print(f"{found['path']}: {held}, {found['bytes'] / 2**20:,.1f} MiB (set HEADSTART_CACHE to move it)")
    if clear:
        out.print(f"cleared: {found['freed_bytes'] / 2**20:,.1f} MiB freed")
