"""A FastAPI service that serves the model an alias points at, reloaded when the alias moves.

The "model" is a greeting template such as ``b"Hello, {}!"``. A follower keeps the
versions the alias names on local disk, verified. When the alias moves (``aioversioned
alias set greeter prod 2``, a rollout step, a rollback), the new version is downloaded
in the background and loaded, then served: no restart, and no request waits for a
download. Run it with::

    AIOVERSIONED_BUCKET=my-artifacts uvicorn fastapi_app:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from aioversioned import Alias, AsyncAliasFollower, AsyncRepository

MODEL = "greeter"


class Models:
    """The alias being served and the loaded model of each version it names.

    ``serving`` is replaced in one assignment, once the new models are loaded, so a
    request sees the old pair or the new one, never an alias without its model.
    """

    def __init__(self) -> None:
        self.serving: tuple[Alias, dict[str, str]] | None = None
        self.loads = 0

    def load(self, follower: AsyncAliasFollower, alias: Alias) -> None:
        """``on_change``: a sync callable, so it runs in a worker thread (loading may block)."""
        old = self.serving[1] if self.serving else {}
        models = {}
        for version in filter(None, (alias.version, alias.secondary_version)):
            if version in old and version != "LATEST":
                models[version] = old[version]  # a published version never changes
            else:
                models[version] = follower.path(version).read_text()
                self.loads += 1
        self.serving = alias, models


def create_app(
    bucket: str | None = None,
    *,
    prefix: str | None = None,
    endpoint_url: str | None = None,
    alias: str = "prod",
    interval: float = 5.0,
) -> FastAPI:
    """The app; the arguments default to AIOVERSIONED_BUCKET, AIOVERSIONED_PREFIX and
    AWS_ENDPOINT_URL (read by botocore). It follows ``alias``, polling every ``interval``
    seconds."""
    bucket = bucket or os.environ["AIOVERSIONED_BUCKET"]
    prefix = prefix or os.environ.get("AIOVERSIONED_PREFIX", "versioned-artifacts")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models = Models()
        # One repository, and so one connection pool, for the life of the process.
        async with AsyncRepository(bucket, prefix, endpoint_url=endpoint_url) as repo:
            follower = repo.follow_alias(
                MODEL,
                alias,
                interval=interval,
                on_change=lambda old, new: models.load(follower, new),
            )
            # Entering downloads and loads what the alias names (a missing alias fails
            # the start-up), then follows it in the background until shutdown.
            async with follower:
                app.state.models = models
                yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/greet")
    async def greet(who: str, request: Request, user: str | None = None) -> dict[str, str]:
        pointer, models = request.app.state.models.serving  # one read: a consistent pair
        # A canary draw per request; with a user id the same user keeps the same version.
        version = pointer.pick_version(key=user)
        return {"version": version, "greeting": models[version].format(who)}

    return app
