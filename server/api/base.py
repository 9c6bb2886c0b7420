"""The base of every request body: unknown fields are an error, strings are stripped."""

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
