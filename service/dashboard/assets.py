"""The dashboard's static files, served by the app itself: users run it offline, so no CDN.

plotly.min.js comes from the `plotly` Python package (a dependency), at a URL that names its
content hash, so browsers may keep it for a year. The dashboard's own files are small and
change with the code: they are revalidated on every load (ETag, usually a 304). Both are sent
gzipped to browsers that accept it: plotly.min.js is 4.8 MB raw and 1.5 MB gzipped, which is
most of a cold page load on a network.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.errors import NotFound

router = APIRouter(prefix="/dashboard/static", include_in_schema=False)

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


class Asset:
    """A file's bytes, its ETag, and (computed on first use: a quarter of a second for Plotly)
    its gzipped bytes."""

    def __init__(self, body: bytes, name: str) -> None:
        self.body = body
        self.media_type = _MEDIA_TYPES[name[name.rfind(".") :]]
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'

    @functools.cached_property
    def gzipped(self) -> bytes:
        # mtime=0: the same bytes on every start, so the ETag holds for the encoded body too.
        return gzip.compress(self.body, compresslevel=6, mtime=0)


@functools.cache
def plotly_asset() -> Asset:
    source = resources.files("plotly").joinpath("package_data/plotly.min.js")
    return Asset(source.read_bytes(), "plotly.min.js")


def plotly_url() -> str:
    """Where the pages load Plotly from; the name changes when the plotly package does."""
    return f"/dashboard/static/plotly-{plotly_asset().etag.strip(chr(34))}.min.js"


@functools.cache
def own_asset(name: str) -> Asset | None:
    folder = resources.files("service.dashboard").joinpath("static")
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    if name not in names or name[name.rfind(".") :] not in _MEDIA_TYPES:
        return None
    return Asset(folder.joinpath(name).read_bytes(), name)


def _send(request: Request, asset: Asset, cache_control: str) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/{name}")
def static_file(name: str, request: Request) -> Response:
    if name.startswith("plotly-") and name.endswith(".min.js"):
        asset = plotly_asset()
        if name != plotly_url().rsplit("/", 1)[1]:
            raise NotFound(f"no static file {name!r} (this server has {plotly_url()})")
        return _send(request, asset, _IMMUTABLE)
    own = own_asset(name)
    if own is None:
        raise NotFound(f"no static file {name!r}")
    return _send(request, own, "no-cache")
