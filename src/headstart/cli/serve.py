"""``headstart serve``: many models over HTTP, one encoder pass per text for all that share a feature spec."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional

import typer

from .app import app, say, session, state


def _limit(default: int, flag: str, what: str):
    return typer.Option(default, flag, min=1, help=f"{what} [default: {default:,}].", show_default=False)


@app.command()
def serve(
    models: list[Path] = typer.Argument(
        ..., metavar="MODELS", help="Model folders, or folders of model folders, written by `headstart train`."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    max_texts: int = _limit(1000, "--max-texts", "Texts in one request"),
    max_body_bytes: int = _limit(2_000_000, "--max-body-bytes", "Bytes in one request's body"),
    max_batch_tokens: int = _limit(16_384, "--max-batch-tokens", "Estimated tokens in one encoder micro-batch"),
    max_queue: int = _limit(512, "--max-queue", "Requests waiting or running before new ones get 429"),
    admin_token: Optional[str] = typer.Option(
        None,
        "--admin-token",
        envvar="HEADSTART_ADMIN_TOKEN",
        help="Turn on the admin endpoints (add, replace, remove, reload models), with this bearer token.",
    ),
    api_key: Optional[str] = typer.Option(
        None,
        "--api-key",
        envvar="HEADSTART_API_KEY",
        help="Require this bearer token on the /v1 endpoints (health, readiness and metrics stay open).",
    ),
    cache: bool = typer.Option(False, "--cache/--no-cache", help="Keep served texts' vectors in the embedding cache."),
) -> None:
    """Serve models over HTTP: POST /v1/classify, a page at /, /metrics, /docs. SIGHUP reloads the models."""
    import uvicorn

    from ..server import Limits, create_app, load_models

    with socket.socket() as probe:  # a port in use is one line now, not a traceback after the models load
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            from ..errors import HeadstartError

            raise HeadstartError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    with session():
        served = load_models(models, cache=cache)
    limits = Limits(max_texts, max_body_bytes, max_batch_tokens, max_queue)
    application = create_app(served, limits, admin_token, reload_from=models, cache=cache, api_key=api_key)
    shared = application.state.registry.sharing()
    for model in served:
        others = shared[model.name]
        say(
            f"{model.name}: {model.config['strategy']}"
            + (f", shares its encoder pass with {', '.join(others)}" if others else "")
        )
    say(f"serving {len(served)} models on http://{host}:{port} (pid {os.getpid()}; SIGHUP reloads them)")
    uvicorn.run(application, host=host, port=port, log_level="warning" if state["quiet"] else "info")
