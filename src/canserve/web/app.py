"""The HTTP API and the web page: thin handlers that validate, hand the work to a worker
process, and return its JSON.

Responses equal the CLI's ``--json`` output for the same inputs (both go through
:mod:`canserve.services`). The expensive endpoints (``POST /api/memory``, ``perf``, ``simulate``,
``plan``, ``cost``) run in the bounded process pool of :mod:`canserve.web.pool`: the event loop
only parses, routes and serves the page, so health checks stay fast under load.

Status codes: a canserve error is a 400 with ``{"detail": message}``; a body that fails
validation a 422 naming the field (the input is never echoed); a request that needs more than
the time budget a 422 saying so; a body over 1 MiB (counted as it streams, chunked or not) a
413; a full server a 503 with ``Retry-After``. ``GET /`` is the page (``HEAD`` answered too);
``GET /openapi.json`` the OpenAPI document and ``GET /api/docs`` a readable, offline view of it.
Static files are served gzip-compressed with an ETag and a long cache lifetime (their URLs carry
a content hash); API answers are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.gzip import GZipMiddleware

from canserve import __version__, jsonable, services
from canserve.catalog.frameworks import list_frameworks
from canserve.catalog.models import search_models
from canserve.catalog.quant import list_quants
from canserve.errors import CanserveError
from canserve.queries import CostQuery, MemoryQuery, PerfQuery, PlanQuery, Query, SimulateQuery
from canserve.web.pool import Job, PoolSettings, Refused, WorkPool

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1 << 20  # a config.json is a few KiB; 1 MiB is generous
MAX_SEARCH_CHARS = 200  # a model search longer than this is not a name
_STATIC = resources.files("canserve.web").joinpath("static")
_ASSETS = {"app.js": "application/javascript", "style.css": "text/css"}
STATIC_MAX_AGE_S = 86_400 * 365  # asset URLs carry their content hash, so they never go stale

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class StrictJSONResponse(JSONResponse):
    """JSON without NaN or Infinity: undefined statistics are null, as in the CLI's --json."""

    def render(self, content: Any) -> bytes:
        return jsonable.dumps(content, indent=None).encode("utf-8")


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, counting the bytes as they arrive
    (a chunked body has no Content-Length to check), before the application reads any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later: http.disconnect when the client leaves

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = StrictJSONResponse({"detail": f"body over {self.limit:,} bytes"}, 413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> _Asset:
        digest = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, gzip.compress(body, 9, mtime=0), media_type, f'"{digest}"')

    def response(self, request: Request, cache_control: str) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _load_assets() -> tuple[dict[str, _Asset], _Asset]:
    """The static files, and the page with each asset's URL carrying its content hash."""
    assets = {
        name: _Asset.of(_STATIC.joinpath(name).read_bytes(), media)
        for name, media in _ASSETS.items()
    }
    page = _STATIC.joinpath("index.html").read_text(encoding="utf-8")
    for name, asset in assets.items():
        page = page.replace(f"/static/{name}", f"/static/{name}?v={asset.etag.strip(chr(34))}")
    return assets, _Asset.of(page.encode("utf-8"), "text/html; charset=utf-8")


def _json(data: Any, status: int = 200) -> Response:
    return StrictJSONResponse(data, status, headers={"Cache-Control": "no-store"})


def _model_rows(needle: str | None = None) -> list[dict[str, Any]]:
    return [services.model_row(m) for m in services.models_matching(needle)]


def _gpu_rows(needle: str | None = None) -> list[dict[str, Any]]:
    return [services.gpu_row(g) for g in services.gpus_matching(needle)]


def create_app(settings: PoolSettings | None = None) -> FastAPI:
    """The application; ``settings`` sizes its compute pool (default: one worker per core)."""
    pool = WorkPool(settings)
    catalog_json: dict[str, bytes] = {}

    def catalog_bytes(name: str, rows: Callable[[], list[dict[str, Any]]]) -> bytes:
        if name not in catalog_json:
            catalog_json[name] = jsonable.dumps(rows(), indent=None).encode("utf-8")
        return catalog_json[name]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.start()
        # build the catalog answers once, off the event loop (about 0.7 s of parsing configs)
        await asyncio.to_thread(catalog_bytes, "models", _model_rows)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        default_response_class=StrictJSONResponse,
        title="canserve",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        description="Will this LLM deployment serve my traffic? Memory, throughput, "
        "latency and cost sizing for self-hosted LLM inference.",
    )
    app.state.pool = pool
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(CanserveError)
    async def canserve_error(_: Request, exc: CanserveError) -> JSONResponse:
        return StrictJSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field; the input is not echoed (it may hold NaN or be huge)."""
        detail = [
            dict(
                loc=list(e.get("loc", ())),
                msg=str(e.get("msg", "")).removeprefix("Value error, ")[:300],
            )
            for e in exc.errors()[:20]
        ]
        return StrictJSONResponse({"detail": detail}, status_code=422)

    async def compute(request: Request, name: str, query: Query) -> Response:
        """Run one use case in the pool; the answer is the worker's JSON, as it sent it."""
        arrived = time.monotonic()
        query.reject_files()
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
        try:
            result = await pool.run(
                Job(name, query, gzip=accepts_gzip), request.is_disconnected, arrived=arrived
            )
        except Refused as exc:
            return StrictJSONResponse(
                {"detail": str(exc)},
                503,
                headers={"Retry-After": str(exc.retry_after_s), "Cache-Control": "no-store"},
            )
        headers = {"Cache-Control": "no-store"}
        if result.gzipped:
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        if result.retry_after_s is not None:
            headers["Retry-After"] = str(result.retry_after_s)
        return Response(result.body, result.status, headers=headers, media_type="application/json")

    @app.head("/api/health", include_in_schema=False)
    @app.get("/api/health")
    def health() -> Response:
        return _json({"status": "ok", "version": __version__, "pool": pool.stats()})

    @app.get("/api/models")
    def models(q: str | None = None) -> Response:
        """The catalog (= ``canserve models --json``; ``q`` filters on a substring)."""
        if q is None:
            body = catalog_bytes("models", _model_rows)
            return Response(body, media_type="application/json")
        return _json(_model_rows(q[:MAX_SEARCH_CHARS]))

    @app.get("/api/models/search")
    def search(q: str = "", limit: int = 8) -> Response:
        """Catalog models matching every word of ``q`` ("Llama 3.1 70B"), best first."""
        found = search_models(q[:MAX_SEARCH_CHARS], max(1, min(limit, 50)))
        return _json([services.model_row(m) for m in found])

    @app.get("/api/gpus")
    def gpus(q: str | None = None) -> Response:
        if q is None:
            return Response(catalog_bytes("gpus", _gpu_rows), media_type="application/json")
        return _json(_gpu_rows(q[:MAX_SEARCH_CHARS]))

    @app.get("/api/quants")
    def quants() -> list[dict[str, str]]:
        return [dict(id=q.id, description=q.description) for q in list_quants()]

    @app.get("/api/frameworks")
    def frameworks() -> list[dict[str, str]]:
        return [dict(id=f.id, name=f.name) for f in list_frameworks()]

    @app.post("/api/memory", response_class=Response)
    async def memory(body: MemoryQuery, request: Request) -> Response:
        """= ``canserve memory --json``."""
        return await compute(request, "memory", body)

    @app.post("/api/perf", response_class=Response)
    async def perf(body: PerfQuery, request: Request) -> Response:
        """= ``canserve perf --json`` (a list with ``sweep``)."""
        return await compute(request, "perf", body)

    @app.post("/api/simulate", response_class=Response)
    async def simulate_endpoint(body: SimulateQuery, request: Request) -> Response:
        """= ``canserve simulate --json``."""
        return await compute(request, "simulate", body)

    @app.post("/api/plan", response_class=Response)
    async def plan(body: PlanQuery, request: Request) -> Response:
        """= ``canserve plan --json``."""
        return await compute(request, "plan", body)

    @app.post("/api/cost", response_class=Response)
    async def cost(body: CostQuery, request: Request) -> Response:
        """= ``canserve cost --json``."""
        return await compute(request, "cost", body)

    @app.get("/api/docs", response_class=HTMLResponse)
    def docs() -> str:
        spec = app.openapi()
        rows = []
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                rows.append(
                    f"<tr><td>{method.upper()}</td><td>{html.escape(path)}</td>"
                    f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
                )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>canserve API"
            "</title></head><body><h1>canserve HTTP API</h1><p>The full OpenAPI document: "
            "<a href='/openapi.json'>/openapi.json</a>. Request fields are named as the "
            "CLI's flags; responses equal <code>canserve ... --json</code>.</p><table>"
            + "".join(rows)
            + "</table></body></html>"
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    assets, page = _load_assets()

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index(request: Request) -> Response:
        return page.response(request, "no-cache")

    @app.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def static(name: str, request: Request) -> Response:
        asset = assets.get(name)
        if asset is None:
            return _json({"detail": "not found"}, 404)
        return asset.response(request, f"public, max-age={STATIC_MAX_AGE_S}, immutable")

    return app
