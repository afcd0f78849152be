"""The HTTP API and the web page: thin handlers that validate, call the library, return JSON.

Responses equal the CLI's ``--json`` output for the same inputs (both go through the same
functions). Errors: a canserve error is a 400 with ``{"detail": message}``; a body that fails
validation a 422 naming the field; a body over 1 MiB a 413. ``GET /`` is the page;
``GET /openapi.json`` the OpenAPI document and ``GET /api/docs`` a readable, offline view of it.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from canserve import __version__, jsonable, services
from canserve.catalog.frameworks import list_frameworks
from canserve.catalog.quant import list_quants
from canserve.errors import CanserveError
from canserve.queries import CostQuery, MemoryQuery, PerfQuery, PlanQuery, SimulateQuery
from canserve.services import gpu_rows, model_rows

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1 << 20  # a config.json is a few KiB; 1 MiB is generous
_STATIC = resources.files("canserve.web").joinpath("static")


def _message(msg: object) -> str:
    return str(msg).removeprefix("Value error, ")


class StrictJSONResponse(JSONResponse):
    """JSON without NaN or Infinity: undefined statistics are null, as in the CLI's --json."""

    def render(self, content: Any) -> bytes:
        return jsonable.dumps(content, indent=None).encode("utf-8")


def _plotly_js() -> Path | None:
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def create_app() -> FastAPI:
    app = FastAPI(
        default_response_class=StrictJSONResponse,
        title="canserve",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Will this LLM deployment serve my traffic? Memory, throughput, "
        "latency and cost sizing for self-hosted LLM inference.",
    )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"body over {MAX_BODY_BYTES:,} bytes"}, 413)
        response: Response = await call_next(request)
        return response

    @app.exception_handler(CanserveError)
    async def canserve_error(_: Request, exc: CanserveError) -> JSONResponse:
        return StrictJSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field; the input is not echoed (it may hold NaN or be huge)."""
        detail = [
            dict(
                loc=list(e.get("loc", ())), msg=str(e.get("msg", "")).removeprefix("Value error, ")
            )
            for e in exc.errors()
        ]
        return StrictJSONResponse({"detail": detail}, status_code=422)

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/models")
    def models(q: str | None = None) -> list[dict[str, Any]]:
        return model_rows(q)

    @app.get("/api/gpus")
    def gpus(q: str | None = None) -> list[dict[str, Any]]:
        return gpu_rows(q)

    @app.get("/api/quants")
    def quants() -> list[dict[str, str]]:
        return [dict(id=q.id, description=q.description) for q in list_quants()]

    @app.get("/api/frameworks")
    def frameworks() -> list[dict[str, str]]:
        return [dict(id=f.id, name=f.name) for f in list_frameworks()]

    @app.post("/api/memory")
    def memory(body: MemoryQuery) -> dict[str, Any]:
        body.reject_files()
        return services.run_memory(body).to_dict()

    @app.post("/api/perf", response_model=None)
    def perf(body: PerfQuery) -> dict[str, Any] | list[dict[str, Any]]:
        body.reject_files()
        curve = [e.to_dict() for e in services.run_perf(body)]
        return curve if body.sweep is not None else curve[0]

    @app.post("/api/simulate")
    def simulate_endpoint(body: SimulateQuery) -> dict[str, Any]:
        body.reject_files()
        return services.run_simulate(body).to_dict()

    @app.post("/api/plan")
    def plan(body: PlanQuery) -> dict[str, Any]:
        body.reject_files()
        return services.run_plan(body).to_dict()

    @app.post("/api/cost")
    def cost(body: CostQuery) -> dict[str, Any]:
        body.reject_files()
        return services.run_cost(body).to_dict()

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
            "<!doctype html><html><head><meta charset='utf-8'><title>canserve API</title>"
            "</head><body><h1>canserve HTTP API</h1><p>The full OpenAPI document: "
            "<a href='/openapi.json'>/openapi.json</a>. Request fields are named as the "
            "CLI's flags; responses equal <code>canserve ... --json</code>.</p><table>"
            + "".join(rows)
            + "</table></body></html>"
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    page = _STATIC.joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            path = _plotly_js()
            if path is None:
                return JSONResponse({"detail": "plotly is not installed"}, 404)
            return FileResponse(path, media_type="application/javascript")
        if name not in ("app.js", "style.css"):
            return JSONResponse({"detail": "not found"}, 404)
        media = "application/javascript" if name.endswith(".js") else "text/css"
        return Response(_STATIC.joinpath(name).read_text(encoding="utf-8"), media_type=media)

    return app
