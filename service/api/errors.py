"""The API's error responses: product errors to HTTP codes, and nothing internal to a client.

Routes raise the product's own errors (NotFound, Conflict, SpecError, ...) and stay thin; the
handlers here decide the status code. Every error body is JSON `{"detail": ...}`; an unexpected
exception is logged with its traceback and answered with a 500 that says nothing about it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import SQLAlchemyError

from service.errors import Conflict, NotFound, StoreError, Unauthorized
from spaces.errors import DataError, ExportError, SpecError, SpikenasError

log = logging.getLogger(__name__)

# First match wins; a product error not listed is the client's input (422).
_STATUS: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (Unauthorized, 401),
    (StoreError, 503),
    # A stored trial that cannot be exported is a state of that trial, not a bad request.
    (ExportError, 409),
    (SpecError, 422),
    (DataError, 422),
]
_UNAVAILABLE = "the database is unavailable; see the service log"


def status_of(error: SpikenasError) -> int:
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return 422


def _field_messages(exc: RequestValidationError) -> list[dict[str, object]]:
    """FastAPI's error list, with the dotted field path at the start of each message."""
    errors = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        field = ".".join(str(part) for part in loc if part != "body") or "body"
        # `input` and `ctx` may echo large bodies or hold exception objects: leave them out.
        errors.append(
            {"loc": list(loc), "msg": f"{field}: {error.get('msg')}", "type": error.get("type")}
        )
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpikenasError)
    async def product_error(request: Request, exc: SpikenasError) -> JSONResponse:
        code = status_of(exc)
        if code == 503:
            log.error("%s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"detail": _UNAVAILABLE}, status_code=503)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _field_messages(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Optuna reads go through SQLAlchemy outside our session scope, and Optuna wraps what
        # fails there in StorageInternalError: the same answer as StoreError.
        if isinstance(exc, SQLAlchemyError | StorageInternalError):
            log.error("%s %s: database error: %r", request.method, request.url.path, exc)
            return JSONResponse({"detail": _UNAVAILABLE}, status_code=503)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)
