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
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from canserve import __version__
from canserve.arch import ModelSpec, spec_from_config
from canserve.catalog.frameworks import list_frameworks
from canserve.catalog.models import load_model
from canserve.catalog.quant import list_quants
from canserve.errors import CanserveError, InvalidInputError
from canserve.memory import estimate_memory
from canserve.perf import estimate_perf, sweep_batch
from canserve.plan import Requirements
from canserve.services import cost_report, gpu_rows, model_rows, plan_models
from canserve.sim import simulate
from canserve.web.schemas import (
    CostRequest,
    MemoryRequest,
    PerfRequest,
    PlanRequest,
    SimulateRequest,
)

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1 << 20  # a config.json is a few KiB; 1 MiB is generous
_STATIC = resources.files("canserve.web").joinpath("static")


def _spec(body: Any) -> ModelSpec:
    if body.config is not None:
        return spec_from_config(body.config, body.model or "uploaded config.json")
    if not body.model:
        raise InvalidInputError("give 'model' (a catalog name) or 'config' (a config.json object)")
    return load_model(body.model)


def _plotly_js() -> Path | None:
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def create_app() -> FastAPI:
    app = FastAPI(
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
        return JSONResponse({"detail": str(exc)}, status_code=400)

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
    def memory(body: MemoryRequest) -> dict[str, Any]:
        return estimate_memory(
            _spec(body),
            body.quant,
            kv_dtype=body.kv_dtype,
            batch=body.batch,
            context=body.context,
            gpu=body.gpu,
            gpus=body.gpus,
            tp=body.tp,
            pp=body.pp,
            framework=body.framework,
            headroom=body.headroom,
            max_num_seqs=body.max_num_seqs,
            max_num_batched_tokens=body.max_num_batched_tokens,
            avg_context=body.avg_context,
        ).to_dict()

    @app.post("/api/perf", response_model=None)
    def perf(body: PerfRequest) -> dict[str, Any] | list[dict[str, Any]]:
        kwargs: dict[str, Any] = dict(
            model=_spec(body),
            gpu=body.gpu,
            quant=body.quant,
            kv_dtype=body.kv_dtype,
            context=body.context,
            prompt=body.prompt,
            output=body.output,
            tp=body.tp,
            pp=body.pp,
            framework=body.framework,
            max_num_batched_tokens=body.max_num_batched_tokens,
        )
        if body.sweep:
            return [e.to_dict() for e in sweep_batch(body.sweep, **kwargs)]
        return estimate_perf(batch=body.batch, **kwargs).to_dict()

    @app.post("/api/simulate")
    def simulate_endpoint(body: SimulateRequest) -> dict[str, Any]:
        return simulate(
            _spec(body),
            body.gpu,
            body.quant,
            kv_dtype=body.kv_dtype,
            tp=body.tp,
            replicas=body.replicas,
            framework=body.framework,
            rate=body.rate,
            cv=body.cv,
            users=body.users,
            think_s=body.think_s,
            prompt=body.prompt,
            output=body.output,
            duration_s=body.duration_s,
            requests=body.requests,
            seed=body.seed,
            slo=body.slo,
            max_num_seqs=body.max_num_seqs,
            max_num_batched_tokens=body.max_num_batched_tokens,
            max_model_len=body.max_model_len,
            static_batching=True if body.static else None,
            load_balancer=body.lb,
        ).to_dict()

    @app.post("/api/plan")
    def plan(body: PlanRequest) -> dict[str, Any]:
        latency = body.latency_s
        if latency is None and body.ttft_p95_s is None and body.tpot_p99_s is None:
            latency = 5.0  # the article's chat target, as the CLI
        req = Requirements(
            prompt=body.prompt,
            output=body.output,
            users=body.users,
            rate=body.rate,
            think_s=body.think_s,
            latency_s=latency,
            ttft_p95_s=body.ttft_p95_s,
            tpot_p99_s=body.tpot_p99_s,
            peak_factor=body.peak_factor,
            max_context=body.max_context,
            headroom=body.headroom,
        )
        return plan_models(
            [_spec(body)],
            req,
            top=body.top,
            rank=body.rank,
            gpus=body.gpus,
            quants=body.quant,
            cloud=body.cloud,
            spot=body.spot,
            budget_usd_per_hour=body.budget_usd_per_hour,
        ).to_dict()

    @app.post("/api/cost")
    def cost(body: CostRequest) -> dict[str, Any]:
        spec = _spec(body) if (body.model or body.config) else None
        return cost_report(
            spec,
            body.gpu,
            tokens_per_day=body.tokens_per_day,
            gpus=body.gpus,
            quant=body.quant,
            usd_per_hour=body.usd_per_hour,
            utilization=body.utilization,
            input_share=body.input_share,
            prompt=body.prompt,
            output=body.output,
            cloud=body.cloud,
            spot=body.spot,
            on_prem=body.on_prem,
        )[1]

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
