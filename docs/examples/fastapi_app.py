"""A FastAPI service that serves the model an alias points at, resolving the alias per request.

The "model" is a greeting template such as ``b"Hello, {}!"``. Run it with::

    AIOVERSIONED_BUCKET=my-artifacts uvicorn fastapi_app:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, HTTPException, Request

from aioversioned import AliasNotFoundError, AsyncRepository, InvalidInputError

MODEL = "greeter"


class Models:
    """Loaded models by version.

    A published version never changes, so it is downloaded once and kept; LATEST is
    mutable and read every time. One lock per version keeps concurrent first requests
    from downloading the same bytes twice.
    """

    def __init__(self, repo: AsyncRepository) -> None:
        self.repo = repo
        self.downloads = 0
        self._loaded: dict[str, str] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def get(self, version: str) -> str:
        if version == "LATEST":
            return await self._download(version)
        async with self._locks.setdefault(version, anyio.Lock()):
            if version not in self._loaded:
                self._loaded[version] = await self._download(version)
        return self._loaded[version]

    async def _download(self, version: str) -> str:
        self.downloads += 1
        content = await self.repo.get_artifact_content(MODEL, version)
        return content.decode()


def create_app(
    bucket: str | None = None, *, prefix: str | None = None, endpoint_url: str | None = None
) -> FastAPI:
    """The app; the arguments default to AIOVERSIONED_BUCKET, AIOVERSIONED_PREFIX and
    AWS_ENDPOINT_URL (read by botocore)."""
    bucket = bucket or os.environ["AIOVERSIONED_BUCKET"]
    prefix = prefix or os.environ.get("AIOVERSIONED_PREFIX", "versioned-artifacts")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One repository, and so one connection pool, for the life of the process.
        async with AsyncRepository(bucket, prefix, endpoint_url=endpoint_url) as repo:
            app.state.repo = repo
            app.state.models = Models(repo)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/greet/{alias}")
    async def greet(
        alias: str, who: str, request: Request, user: str | None = None
    ) -> dict[str, str]:
        repo: AsyncRepository = request.app.state.repo
        try:
            # One small GET per request: moving the alias takes effect immediately.
            pointer = await repo.get_alias(MODEL, alias)
        except InvalidInputError as err:
            raise HTTPException(422, str(err)) from None
        except AliasNotFoundError:
            raise HTTPException(404, f"no alias {alias!r}") from None
        # A canary draw per request; with a user id the same user keeps the same version.
        version = pointer.pick_version(key=user)
        template = await request.app.state.models.get(version)
        return {"version": version, "greeting": template.format(who)}

    return app
