"""The FastAPI application: the API, the page, health and metrics.

Routes: ``GET /`` (the page, from ``static/``), ``GET /api/models``, ``POST /api/predict``,
``GET /healthz``, ``GET /metrics``, and FastAPI's ``/docs`` and ``/openapi.json``. Every
error is answered as JSON ``{"error": message, "status": code}``. The checks of a
prediction run cheapest first: token (401), parameters (422), model (404), body size
(413, while receiving), image header (415/422, and 413 for too many pixels, before any
pixel is decoded), a place in the worker pool (503 with ``Retry-After``), then the work.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from importlib.resources import files
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelwise import __version__
from pixelwise.data.reader import (
    ImageHeader,
    ImageSource,
    ImageTooLargeError,
    PageError,
    UnsupportedImageError,
    read_header,
)
from pixelwise.errors import PixelwiseError
from pixelwise.inference.one_image import ImageResult, predict_image
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.tta import TTA
from pixelwise.serve.errors import ApiError
from pixelwise.serve.metrics import CONTENT_TYPE, Metrics
from pixelwise.serve.models import ServedModel
from pixelwise.serve.openapi import (
    PREDICT_DOC,
    PREDICT_RESPONSES,
    ModelQuery,
    OutputQuery,
    PageQuery,
    RleQuery,
    TtaQuery,
)
from pixelwise.serve.options import BODY_IDLE_SECONDS, ServeOptions, check_tta
from pixelwise.serve.pool import PoolFullError, WorkerPool
from pixelwise.serve.results import Output, summary
from pixelwise.serve.uploads import Upload, check_declared_size, image_from_body, read_limited

logger = logging.getLogger(__name__)

STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
CLIENT_CLOSED = 499
"""The status recorded (never sent) for a client gone before its body arrived, as nginx's."""
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class _State:
    """What every request handler shares."""

    models: dict[str, ServedModel]
    options: ServeOptions
    pool: WorkerPool
    metrics: Metrics

    def model(self, name: str | None) -> ServedModel:
        """The model a request names; the only one when it names none."""
        known = ", ".join(self.models)
        if name is None:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise ApiError(422, f"choose a model with model=NAME; the models: {known}")
        if name not in self.models:
            raise ApiError(404, f"unknown model {name!r}; the models: {known}")
        return self.models[name]

    def describe(self) -> dict[str, Any]:
        return {
            "models": [model.describe() for model in self.models.values()],
            "limits": {
                "max_upload_bytes": self.options.max_upload_bytes,
                "max_pixels": self.options.max_pixels,
            },
        }


class _ObserveRequests:
    """ASGI middleware: common security headers on every answer, and its metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for key, value in COMMON_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "other")
            if status == CLIENT_CLOSED:
                self.metrics.disconnected(name)
            else:
                self.metrics.observe(name, scope["method"], status, time.perf_counter() - started)


def _static(name: str) -> bytes:
    return (files("pixelwise.serve") / "static" / name).read_bytes()


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def _parse_tta(modes: list[str], model: ServedModel) -> TTA | None:
    if not modes:
        return None
    if not model.is_network:
        raise ApiError(422, f"tta applies to networks; {model.name!r} is a classical method")
    try:
        tta = TTA.parse(modes)
        check_tta(tta)
    except PixelwiseError as error:
        raise ApiError(422, str(error)) from None
    return tta


def _inspect(
    body: bytes, content_type: str, options: PredictOptions, model: ServedModel
) -> tuple[Upload, ImageHeader]:
    """The request's image and its header, checked against the pixel and memory limits
    (nothing is decoded): 400 no image, 415 not an image (or pixels pixelwise does not
    read), 422 an unreadable header, 413 too many pixels or decoded bytes."""
    upload = image_from_body(body, content_type)
    read = options.read_options(model.segmenter.pixel_scaling)
    try:
        header = read_header(ImageSource.of(upload.data, upload.filename), read)
        header.check_pixels(read.max_pixels)
        header.check_decoded_bytes(options.max_memory, "the server's --max-memory")
    except ImageTooLargeError as error:
        raise ApiError(413, str(error)) from None
    except UnsupportedImageError as error:
        raise ApiError(415, str(error)) from None
    except PageError as error:
        raise ApiError(422, error.worded("the query parameter page=")) from None
    except PixelwiseError as error:
        raise ApiError(422, str(error)) from None
    return upload, header


def _predict(
    model: ServedModel, header: ImageHeader, options: PredictOptions, output: Output
) -> tuple[float, ImageResult, bytes | None]:
    """A worker's job: ``(start time, result, PNG bytes or None for json)``."""
    started = time.perf_counter()
    kinds = ("labels", "overlay") if output == "overlay" else ("labels",)
    result = predict_image(model.segmenter, header, options, kinds)
    png = None if output == "json" else result.outputs.png(output)
    return started, result, png


def create_app(models: dict[str, ServedModel], options: ServeOptions) -> FastAPI:
    """The application serving ``models`` (loaded already) under ``options``' limits."""
    state = _State(models, options, WorkerPool(options.workers, options.queue), Metrics())
    page = _static("index.html")
    statics = {name: _static(name) for name in STATIC_FILES}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.pool.shutdown()

    app = FastAPI(
        title="pixelwise",
        version=__version__,
        description="Semantic segmentation with saved pixelwise models: post an image, get "
        "its class labels (a palette PNG), an overlay, or a JSON summary.",
        lifespan=lifespan,
    )
    app.state.pixelwise = state
    app.add_middleware(_ObserveRequests, metrics=state.metrics)
    _add_error_handlers(app)

    async def authorize(request: Request) -> None:
        token = options.token
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(
                401,
                "missing or wrong token: send the header 'Authorization: Bearer TOKEN'",
                {"WWW-Authenticate": "Bearer"},
            )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> Response:
        headers = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in statics:
            raise ApiError(404, f"no static file {name!r}")
        headers = {"Cache-Control": "no-cache"}
        return Response(statics[name], media_type=STATIC_FILES[name], headers=headers)

    @app.get("/healthz", summary="Liveness: 200 while the server runs")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(models)}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}},
        dependencies=[Depends(authorize)],
    )
    async def metrics() -> Response:
        pool = state.pool
        gauges = {
            "queue_depth": ("Requests waiting for a worker.", pool.waiting),
            "workers_busy": ("Workers predicting now.", pool.running),
            "workers": ("Worker threads.", pool.workers),
            "queue_capacity": ("Requests admitted at most (workers + queue).", pool.capacity),
        }
        return Response(state.metrics.render(gauges), media_type=CONTENT_TYPE)

    @app.get(
        "/api/models",
        summary="The models served, their classes and colours, and the limits",
        dependencies=[Depends(authorize)],
    )
    async def list_models() -> dict[str, Any]:
        return state.describe()

    @app.post(
        "/api/predict",
        summary="Predict one image's class labels",
        response_class=Response,
        responses=PREDICT_RESPONSES,
        openapi_extra=PREDICT_DOC,
        dependencies=[Depends(authorize)],
    )
    async def predict(
        request: Request,
        model: ModelQuery = None,
        output: OutputQuery = "labels",
        tta: TtaQuery = None,
        rle: RleQuery = False,
        page: PageQuery = None,
    ) -> Response:
        served = state.model(model)
        tta = tta or []
        tta_views = _parse_tta(tta, served)
        limit = options.max_upload_bytes
        check_declared_size(request.headers.get("content-length"), limit)
        body = await read_limited(request.stream(), limit, BODY_IDLE_SECONDS)
        content_type = request.headers.get("content-type", "")
        predict_options = options.predict_options(tta_views, page)
        upload, header = await asyncio.to_thread(
            _inspect, body, content_type, predict_options, served
        )
        submitted = time.perf_counter()
        job = partial(_predict, served, header, predict_options, output)
        try:
            started, result, png = await state.pool.run(job)
        except PoolFullError as busy:
            raise ApiError(
                503,
                f"the server is busy ({state.pool.capacity} requests admitted); retry after "
                f"{busy.retry_after} s",
                {"Retry-After": str(busy.retry_after)},
            ) from None
        except UnsupportedImageError as error:
            raise ApiError(415, str(error)) from None
        except PixelwiseError as error:
            raise ApiError(422, str(error)) from None
        queued = started - submitted
        if png is None:
            return JSONResponse(summary(result, served.name, queued, tta, rle))
        suffix = "" if output == "labels" else f"-{output}"
        headers = {
            "Content-Disposition": f'inline; filename="{upload.stem}{suffix}.png"',
            "X-Pixelwise-Model": served.name,
            "X-Pixelwise-Seconds": f"{result.seconds:.6f}",
            "X-Pixelwise-Tiled": str(result.tiled).lower(),
        }
        return Response(png, media_type="image/png", headers=headers)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": message, "status": code}``."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), error.status, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(error), "status": 422}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail), "status": error.status_code},
            error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        logger.info(
            "%s %s: the client disconnected before its request body arrived",
            request.method, request.url.path,
        )  # fmt: skip
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("error answering %s %s", request.method, request.url.path)
        message = f"internal error ({type(error).__name__}); the server log has the details"
        return JSONResponse({"error": message, "status": 500}, 500)
