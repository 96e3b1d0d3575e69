"""Dependencies of the routes, as Annotated aliases: settings, a DB session, the Optuna storage,
and the bearer-token check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

import optuna
from fastapi import Depends, Request
from fastapi import Path as PathParam
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from search.study import open_storage
from service.db import describe, session_scope
from service.errors import StoreError, Unauthorized
from service.settings import Settings

# Ids are bounded by the 32-bit integer columns, so an absurd id is a 422, not a database error.
JobId = Annotated[int, PathParam(ge=0, le=2**31 - 1)]
TrialNumber = Annotated[int, PathParam(ge=0, le=2**31 - 1)]


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in its
# thread pool, and a hop there per dependency per request is what a busy server cannot afford.


async def get_app_settings(request: Request) -> Settings:
    """The settings create_app bound to this app (tests bind their own; serve binds the env's)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with session_scope(settings.database_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_storage(settings: SettingsDep) -> optuna.storages.BaseStorage:
    try:
        return open_storage(settings.database_url)
    except SQLAlchemyError as e:
        raise StoreError(f"cannot open the Optuna storage: {describe(e)}") from e


StorageDep = Annotated[optuna.storages.BaseStorage, Depends(get_storage)]


async def require_token(request: Request, settings: SettingsDep) -> None:
    """With SPIKENAS_API_TOKEN set, the request must carry `Authorization: Bearer <token>`."""
    if settings.api_token is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    valid = hmac.compare_digest(token.strip().encode(), settings.api_token.encode())
    if scheme.lower() != "bearer" or not valid:
        raise Unauthorized("this request needs the header 'Authorization: Bearer <token>'")


AuthDep = Depends(require_token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Path segments of the routes that hand out what a job made: its models, weights and log.
DOWNLOADS = frozenset({"export", "weights", "log"})


def needs_token(method: str, path: str) -> bool:
    """Whether a request is a write or a download (those need the token when one is set)."""
    return method.upper() not in SAFE_METHODS or any(
        segment in DOWNLOADS or segment.startswith("export") for segment in path.split("/")
    )


async def guard_writes_and_downloads(request: Request, settings: SettingsDep) -> None:
    """An app-wide dependency: every write and every download needs the token, whichever router
    declares the route, so that a route added later cannot leave it out. (Routes still declare
    AuthDep where they need it: it says so in their own code.)"""
    if needs_token(request.method, request.url.path):
        await require_token(request, settings)
