"""A small cache of Pareto-front responses, keyed by the study's number of finished trials.

The front of a big study looks at every finished trial, and a dashboard asks for it over and
over while nothing changes. A front depends only on the study's COMPLETE trials, which Optuna
never changes once finished and never deletes: so (study id, number of COMPLETE trials, query)
names one answer, and one COUNT query tells whether a stored answer is still the answer.

An ASGI middleware in front of the routes: GET /api/jobs/{id}/pareto (and its query variants)
answered 200 is stored as bytes and replayed while the count stands; anything else (an error, a
job without a study yet, a route that needs the token) goes through untouched.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

import anyio
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search.study import study_name

_PARETO = re.compile(r"^/api/jobs/(\d{1,10})/pareto$")
# COMPLETE is how Optuna's TrialState enum is stored, by name, on every backend.
_FINISHED = text(
    "SELECT s.study_id, COUNT(t.trial_id) FROM studies s "
    "LEFT JOIN trials t ON t.study_id = s.study_id AND t.state = 'COMPLETE' "
    "WHERE s.study_name = :name GROUP BY s.study_id"
)

Key = tuple[int, int, bytes]  # study id, finished trials, query string
Stored = tuple[list[tuple[bytes, bytes]], bytes]  # headers, body


class FrontCache:
    def __init__(self, app: ASGIApp, engine: Callable[[], Engine], size: int = 64) -> None:
        self.app = app
        self.engine = engine  # a callable: the engine exists only once the app has started
        self.size = size
        self._entries: OrderedDict[tuple[int, Key], Stored] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, job_id: int, query: bytes) -> Key | None:
        try:
            with self.engine().connect() as conn:
                row = conn.execute(_FINISHED, {"name": study_name(job_id)}).first()
        except SQLAlchemyError:
            return None  # the route answers, and says what is wrong
        return None if row is None else (int(row[0]), int(row[1]), query)

    def _get(self, job_id: int, key: Key) -> Stored | None:
        with self._lock:
            stored = self._entries.get((job_id, key))
            if stored is not None:
                self._entries.move_to_end((job_id, key))
            return stored

    def _put(self, job_id: int, key: Key, stored: Stored) -> None:
        with self._lock:
            # Older answers for this job are stale for good: its count only grows.
            for old in [k for k in self._entries if k[0] == job_id and k[1][2] == key[2]]:
                del self._entries[old]
            self._entries[(job_id, key)] = stored
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PARETO.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        job_id = int(match.group(1))
        query = scope.get("query_string", b"")
        key = await anyio.to_thread.run_sync(self._key, job_id, query)
        if key is None:
            await self.app(scope, receive, send)
            return
        stored = self._get(job_id, key)
        if stored is not None:
            await send({"type": "http.response.start", "status": 200, "headers": stored[0]})
            await send({"type": "http.response.body", "body": stored[1]})
            return

        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and status == 200:
                    self._put(job_id, key, (headers, b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, capture)
