"""The OpenAPI description of ``POST /api/predict``: its query parameters, body and answers.

FastAPI cannot see the body (the handler reads it itself, under the size limit), so the
body's forms and the answers' examples are spelled out here for ``/docs`` and
``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from pixelwise.serve.results import Output

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
}


def error_doc(description: str, example: str, status: int) -> dict[str, Any]:
    body = {"error": example, "status": status}
    return {
        "description": description,
        "content": {"application/json": {"schema": ERROR_SCHEMA, "example": body}},
    }


SUMMARY_EXAMPLE = {
    "model": "camvid-unet",
    "width": 960,
    "height": 720,
    "seconds": 0.41,
    "queued_seconds": 0.0,
    "tiled": False,
    "tta": [],
    "classes": [
        {"index": 0, "name": "Sky", "colour": [128, 128, 128], "pixels": 152064, "fraction": 0.22}
    ],
    "mask": {"encoding": "row-major-runs", "values": [0, 3], "counts": [960, 12]},
}
ModelQuery = Annotated[
    str | None,
    Query(max_length=64, description="A name from /api/models; optional with one model."),
]
OutputQuery = Annotated[
    Output,
    Query(
        description="`labels`: palette PNG of class indices (the bytes `pixelwise predict` "
        "writes, less its receipt); `overlay`: class colours over the image (PNG); "
        "`json`: size, time, per-class pixel fractions."
    ),
]
TtaQuery = Annotated[
    list[str] | None,
    Query(
        description="Test-time augmentation, repeatable: hflip, flips, d4, scales:0.75,1,1.25 "
        "(networks only; at most 8 views).",
        openapi_examples={"mirror": {"summary": "left-right flip", "value": ["hflip"]}},
    ),
]
RleQuery = Annotated[bool, Query(description="json: add the labels run-length encoded.")]
PageQuery = Annotated[
    int | None,
    Query(ge=0, description="The page of a multipage image (TIFF, GIF), 0-based; required "
          "for one."),
]  # fmt: skip
PREDICT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: a multipart field named `image`, or the raw body.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            },
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/tiff": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`labels` and `overlay`: a PNG; `json`: the summary.",
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"example": SUMMARY_EXAMPLE},
        },
    },
    400: error_doc("No image in the request.", "the image is empty: ...", 400),
    401: error_doc("Token missing or wrong.", "missing or wrong token: ...", 401),
    404: error_doc("Unknown model.", "unknown model 'x'; the models: unet", 404),
    413: error_doc(
        "Body or image too large.",
        "image 'bomb.png' is 50000x50000 (2,500,000,000 pixels), above the limit of "
        "16,777,216 pixels (--max-pixels)",
        413,
    ),
    415: error_doc("Not an image.", "cannot read image 'x.txt': not an image format ...", 415),
    422: error_doc("Unreadable image or bad parameter.", "cannot read image ...", 422),
    503: error_doc("Busy: retry after `Retry-After` seconds.", "busy: ...", 503),
}
