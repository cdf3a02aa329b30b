"""``headstart serve``'s web layer: FastAPI over ``serving``.

Concurrent requests are queued and taken, in arrival order, into micro-batches of at most ``max_batch_tokens``
(estimated) tokens. Each batch runs on one worker thread, off the event loop, so ``/health`` answers while the
encoder works; within it the encoder sorts texts by length, and every model asked for by any request in the batch
reads one encoder pass per shared pass key (``serving.classify``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Union

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import HeadstartError
from .serving import Registry, ServedModel, classify, load_served, model_folders

log = logging.getLogger("headstart.server")
CHARACTERS_PER_TOKEN = 4  # for batching only: English text averages about 4 characters a WordPiece token
Label = Union[str, int, float, bool]


@dataclass(frozen=True)
class Limits:
    """What one request, and the queue, may hold. Defaults follow text-embeddings-inference's where it has one."""

    max_texts: int = 1000  # texts in one request
    max_body_bytes: int = 2_000_000  # a request's body, as TEI's --payload-limit
    max_batch_tokens: int = 16_384  # estimated tokens in one encoder micro-batch, as TEI's --max-batch-tokens
    max_queue: int = 512  # requests waiting or running, as TEI's --max-concurrent-requests


class Overloaded(Exception):
    """The queue is full."""


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1, description="The texts to classify.")
    models: Union[list[str], None] = Field(
        None, min_length=1, description="Models to apply, by name; all when omitted."
    )
    probabilities: bool = Field(False, description="Also return every label's probability.")

    @field_validator("texts")
    @classmethod
    def no_empty_text(cls, texts: list[str]) -> list[str]:
        return _no_empty(texts)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: Union[str, list[str]] = Field(description="One text, or a list of texts.")

    @field_validator("inputs")
    @classmethod
    def no_empty_text(cls, inputs: Union[str, list[str]]) -> Union[str, list[str]]:
        if isinstance(inputs, list) and not inputs:
            raise ValueError("is an empty list; give at least one text")
        _no_empty([inputs] if isinstance(inputs, str) else inputs)
        return inputs


def _no_empty(texts: list[str]) -> list[str]:
    empty = [i for i, text in enumerate(texts) if not text.strip()]
    if empty:
        raise ValueError(f"text {empty[0]} is empty or only whitespace; every text needs words to classify")
    return texts


class Prediction(BaseModel):
    label: Label
    score: float = Field(description="The label's probability.")
    probabilities: Union[dict[str, float], None] = None


class ClassifyResponse(BaseModel):
    models: list[str]
    results: list[dict[str, Prediction]] = Field(description="One entry per text: each model's prediction.")


class LabelScore(BaseModel):
    label: Label
    score: float


class ModelInfo(BaseModel):
    name: str
    strategy: str
    labels: list[Label]
    encoder: Union[str, None]
    feature_spec: Union[dict, None]
    shares_encoder_with: list[str]
    summary: str


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, and what to do about it.")


class Status(BaseModel):
    status: str
    models: Union[int, None] = None


ERRORS = {
    401: "Wrong or missing bearer token.",
    403: "Admin endpoints off, or a path outside the served folders.",
    404: "Unknown model; the message names the known ones.",
    413: "Too many texts, or a body over the size limit; the message states the limit.",
    422: "A model folder that cannot be loaded.",
    429: "The queue is full; retry after Retry-After seconds.",
    503: "No model is being served.",
}


def errors(*codes: int) -> dict:
    """OpenAPI entries for these error statuses, so that clients (and schema fuzzers) know them."""
    return {code: {"model": ErrorBody, "description": ERRORS[code]} for code in codes}


class AddModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="A model folder on the server's disk.")


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("headstart_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram(
            "headstart_request_seconds", "HTTP request latency", ["endpoint"], registry=self.registry
        )
        self.batch_texts = Histogram(
            "headstart_batch_texts",
            "Texts per encoder micro-batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
            registry=self.registry,
        )
        self.queue_depth = Gauge("headstart_queue_depth", "Requests waiting or running", registry=self.registry)
        self.encoder_passes = Counter(
            "headstart_encoder_forward_passes", "Encoder forward passes (batches)", registry=self.registry
        )
        self.model_texts = Counter(
            "headstart_model_texts", "Texts classified per model", ["model"], registry=self.registry
        )


@dataclass
class _Job:
    texts: list[str]
    models: list[ServedModel]
    tokens: int
    future: asyncio.Future = field(repr=False)


class Batcher:
    """The queue of classify jobs and the loop that runs them in micro-batches on one worker thread."""

    def __init__(self, limits: Limits, metrics: Metrics):
        self.limits, self.metrics = limits, metrics
        self.jobs: deque[_Job] = deque()
        self.arrived: asyncio.Event | None = None
        self.waiting = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-encoder")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, texts: list[str], models: list[ServedModel]) -> dict[str, np.ndarray]:
        if self.waiting >= self.limits.max_queue:
            raise Overloaded
        tokens = sum(len(text) // CHARACTERS_PER_TOKEN + 2 for text in texts)
        future = asyncio.get_running_loop().create_future()
        self.waiting += 1
        self.metrics.queue_depth.set(self.waiting)
        try:
            self.jobs.append(_Job(texts, models, tokens, future))
            self.arrived.set()
            return await future
        finally:
            self.waiting -= 1
            self.metrics.queue_depth.set(self.waiting)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.jobs:
                self.arrived.clear()
                await self.arrived.wait()
                continue
            batch = [self.jobs.popleft()]
            tokens = batch[0].tokens
            # What is waiting now joins, up to the token bound; the job that would cross it leads the next batch.
            while self.jobs and tokens + self.jobs[0].tokens <= self.limits.max_batch_tokens:
                tokens += self.jobs[0].tokens
                batch.append(self.jobs.popleft())
            batch = [job for job in batch if not job.future.done()]  # a client that went away
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self.executor, self._classify, batch)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request, never lost
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, result in zip(batch, results):
                if not job.future.done():
                    job.future.set_result(result)

    def _classify(self, batch: list[_Job]) -> list[dict[str, np.ndarray]]:
        texts = [text for job in batch for text in job.texts]
        models = list({id(m): m for job in batch for m in job.models}.values())
        probabilities, passes = classify(texts, models)
        self.metrics.batch_texts.observe(len(texts))
        self.metrics.encoder_passes.inc(passes)
        results, start = [], 0
        for job in batch:
            end = start + len(job.texts)
            results.append({m.name: probabilities[m.name][start:end] for m in job.models})
            for m in job.models:
                self.metrics.model_texts.labels(m.name).inc(len(job.texts))
            start = end
        return results


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes gets a 413 before it is parsed, announced or streamed."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(send)
            more = message.get("more_body", False)
        return await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks)}], receive), send)

    async def _refuse(self, send):
        body = json.dumps(
            {
                "error": f"the request body is over the limit of {self.limit:,} bytes (--max-body-bytes); "
                "send fewer texts"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[dict], then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        return await then() if then is not None else {"type": "http.disconnect"}

    return receive


def load_models(paths: Sequence[str | Path], cache: bool = False) -> list[ServedModel]:
    """Every model under ``paths`` (see ``serving.model_folders``); the first that cannot be loaded is an error."""
    return [load_served(path, cache=cache) for path in model_folders(paths)]


def create_app(
    models: Sequence[ServedModel],
    limits: Limits = Limits(),
    admin_token: str | None = None,
    reload_from: Sequence[str | Path] = (),
    cache: bool = False,
    api_key: str | None = None,
) -> FastAPI:
    """The server's app over ``models``. ``reload_from``: the paths the server was started with, which
    ``POST /admin/reload`` and SIGHUP load the models from again, and the only places the admin endpoints may load a
    model from. Admin endpoints answer only with ``admin_token``, and with ``api_key`` the ``/v1`` endpoints only with
    it (each as a bearer token)."""
    registry, metrics = Registry(models), Metrics()
    roots = [Path(p).resolve() for p in reload_from]
    batcher = Batcher(limits, metrics)

    def reload() -> dict:
        """Load every model under ``reload_from`` again: a folder that loads replaces its model, one that does not is
        refused with its reason while the old version keeps serving, and models whose folder is gone are removed."""
        loaded, refused = {}, {}
        try:
            folders = model_folders(reload_from)
        except HeadstartError as exc:
            return {"loaded": [], "refused": {"*": str(exc)}, "removed": []}
        for folder in folders:
            try:
                served = load_served(folder, cache=cache)
                loaded[served.name] = served
            except HeadstartError as exc:
                refused[folder.name] = str(exc)
        kept = {name: registry.models[name] for name in refused if name in registry.models}
        removed = [name for name in registry.models if name not in loaded and name not in kept]
        registry.replace_all([*loaded.values(), *kept.values()])
        return {"loaded": sorted(loaded), "refused": refused, "removed": removed}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        loop = asyncio.get_running_loop()
        try:  # only in the main thread (uvicorn's), not in a test client's
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload_logged()))
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass
        yield
        await batcher.stop()

    async def _reload_logged() -> None:
        outcome = await asyncio.get_running_loop().run_in_executor(None, reload)
        log.warning("reload on SIGHUP: %s", json.dumps(outcome))

    app = FastAPI(
        title="headstart",
        summary="Many text classifiers on one frozen encoder pass.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.registry, app.state.batcher, app.state.metrics = registry, batcher, metrics
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(
            status_code=422,
            content={"error": problems, "detail": jsonable_encoder(exc.errors(), custom_encoder={Exception: str})},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's only 400: a body that is not UTF-8 JSON, a malformed body as any other
            return JSONResponse(
                status_code=422, content={"error": f"body: {exc.detail}; send JSON encoded as UTF-8", "detail": []}
            )
        return JSONResponse(status_code=exc.status_code, content={"error": exc.detail}, headers=exc.headers)

    async def run(texts: list[str], names: list[str] | None) -> list[tuple[ServedModel, np.ndarray]]:
        """Each model asked for, as it was when the request came (a model replaced meanwhile answers with the
        version it started with), and its probabilities."""
        if len(texts) > limits.max_texts:
            raise HTTPException(
                413, f"{len(texts):,} texts in one request; the limit is {limits.max_texts:,} (--max-texts)"
            )
        try:
            models = registry.get(names)
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from None
        if not models:
            raise HTTPException(503, "no models are being served; add one")
        try:
            results = await batcher.submit(texts, models)
        except Overloaded:
            raise HTTPException(
                429,
                f"the queue is full ({limits.max_queue} requests, --max-queue); retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        return [(m, results[m.name]) for m in models]

    def client(authorization: str | None = Header(None, description="'Bearer KEY' when the server has --api-key")):
        if api_key is not None:
            _check_bearer(authorization, api_key, "API key")

    keyed = [Depends(client)]

    @app.post(
        "/v1/classify",
        response_model=ClassifyResponse,
        response_model_exclude_none=True,
        dependencies=keyed,
        responses=errors(401, 404, 413, 429, 503),
    )
    async def classify_texts(body: ClassifyRequest) -> dict:
        """Every model asked for (all when ``models`` is omitted) on every text: one encoder pass per text per
        shared feature spec, however many models are asked."""
        results = await run(body.texts, body.models)
        rows = []
        for i in range(len(body.texts)):
            row = {}
            for served, proba in results:
                best = int(np.argmax(proba[i]))
                row[served.name] = {"label": served.labels[best], "score": float(proba[i][best])}
                if body.probabilities:
                    row[served.name]["probabilities"] = {
                        str(label): float(p) for label, p in zip(served.labels, proba[i])
                    }
            rows.append(row)
        return {"models": [served.name for served, _ in results], "results": rows}

    @app.post(
        "/v1/models/{name}/predict",
        response_model=Union[list[LabelScore], list[list[LabelScore]]],
        dependencies=keyed,
        responses=errors(401, 404, 413, 429, 503),
    )
    async def predict(name: str, body: PredictRequest):
        """One model, in the shape text-embeddings-inference's and Infinity's ``/predict`` use: every label with its
        score, most probable first; a list of such lists for a list of inputs."""
        texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
        [(served, proba)] = await run(texts, [name])
        ranked = [
            [{"label": served.labels[j], "score": float(row[j])} for j in np.argsort(-row, kind="stable")]
            for row in proba
        ]
        return ranked[0] if isinstance(body.inputs, str) else ranked

    @app.get("/v1/models", response_model=list[ModelInfo], dependencies=keyed, responses=errors(401))
    async def list_models() -> list[dict]:
        """Each model: strategy, labels, encoder, feature spec, the models it shares an encoder pass with, and its
        card's summary."""
        sharing = registry.sharing()
        return [{**m.describe(), "shares_encoder_with": sharing[m.name]} for m in registry.models.values()]

    @app.get("/health", response_model=Status, response_model_exclude_none=True)
    async def health() -> dict:
        """The process is up (it answers while the encoder works)."""
        return {"status": "ok"}

    @app.get("/ready", response_model=Status, responses={503: {"model": Status, "description": "Not ready yet."}})
    async def ready() -> JSONResponse:
        """Ready to classify: the batch loop runs and at least one model is served."""
        ok = batcher.running and bool(registry.models)
        return JSONResponse(
            status_code=200 if ok else 503,
            content={"status": "ready" if ok else "not ready", "models": len(registry.models)},
        )

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format."}},
    )
    async def prometheus() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return files("headstart").joinpath("templates/serve.html").read_text(encoding="utf-8")

    def admin(authorization: str | None) -> None:
        if admin_token is None:
            raise HTTPException(403, "admin endpoints are off; start the server with --admin-token")
        _check_bearer(authorization, admin_token, "admin token")

    def inside_roots(path: str) -> Path:
        """The folder ``path`` names, if it lies under a folder the server was started with (symbolic links and
        ``..`` resolved first, so none leads out)."""
        folder = Path(path).resolve()
        if not any(folder == root or root in folder.parents for root in roots):
            raise HTTPException(
                403,
                f"{path} is outside the folders this server was started with "
                f"({', '.join(map(str, roots)) or 'none'}); models are loaded only from under them",
            )
        return folder

    @app.put("/admin/models/{name}", responses=errors(401, 403, 413, 422))
    async def put_model(name: str, body: AddModel, authorization: str | None = Header(None)) -> dict:
        """Add a model from a folder on the server's disk, or replace the one of that name. A folder that cannot be
        loaded is refused with its reason, and the models served keep serving."""
        admin(authorization)
        folder = inside_roots(body.path)
        try:
            served = await asyncio.get_running_loop().run_in_executor(None, lambda: load_served(folder, name, cache))
        except HeadstartError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"name": name, "replaced": registry.put(served)}

    @app.delete("/admin/models/{name}", responses=errors(401, 403, 404))
    async def delete_model(name: str, authorization: str | None = Header(None)) -> dict:
        """Stop serving a model; requests already queued for it finish."""
        admin(authorization)
        try:
            registry.remove(name)
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from None
        return {"removed": name}

    @app.post("/admin/reload", responses=errors(401, 403))
    async def reload_models(authorization: str | None = Header(None)) -> dict:
        """Load the served folders again, as SIGHUP does: what changed is replaced, a broken folder is refused with
        its reason while its old version keeps serving."""
        admin(authorization)
        return await asyncio.get_running_loop().run_in_executor(None, reload)

    return app


def _check_bearer(authorization: str | None, secret: str, what: str) -> None:
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise HTTPException(
            401,
            f"wrong or missing {what}; send it as 'Authorization: Bearer ...'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _where(loc: Sequence) -> str:
    """("body", "texts", 3) -> "texts[3]"."""
    parts = [str(p) for p in loc if p != "body"] or ["body"]
    return parts[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts[1:])


def _version() -> str:
    from . import __version__

    return __version__
