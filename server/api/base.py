"""Request helpers shared by the routers: `Body` (the base of every request body: unknown
fields are an error, strings are stripped), `PatchBody`, and the id types of paths, queries
and bodies (ids are 32-bit integers in the database)."""

from typing import Annotated, Self

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.messages import MAX_ID

__all__ = ["MAX_ID", "Body", "BodyId", "PatchBody", "PathId", "QueryId"]

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatchBody(Body):
    """A PATCH body: fields left out stay as they are; an explicit null is refused."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"null is not allowed (leave the field out): {', '.join(nulls)}")
        return self
