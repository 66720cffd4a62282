"""Base classes of every wire model: unknown fields ignored, numbers finite, the schema envelope."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.limits import MAX_NAME_CHARS, Id, TsMs

SCHEMA_PREFIX = "kotanet."
SCHEMA_VERSION = 1


class Inbound(BaseModel):
    """Base of wire models: unknown fields are ignored (forward compatible), floats finite."""

    model_config = ConfigDict(extra="ignore", frozen=False, allow_inf_nan=False)


class Envelope(Inbound):
    """Fields every node payload carries; ``schema`` defaults to this kind's schema."""

    KIND: ClassVar[str] = ""
    schema_: str = Field("", alias="schema", max_length=MAX_NAME_CHARS)
    site: Id
    node: Id
    ts_ms: TsMs

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)

    @classmethod
    def schema_name(cls) -> str:
        """The schema string of this kind, e.g. ``kotanet.tele/1``."""
        return f"{SCHEMA_PREFIX}{cls.KIND}/{SCHEMA_VERSION}"

    @model_validator(mode="after")
    def _check_schema(self) -> Envelope:
        expected = self.schema_name()
        if self.schema_ == expected:
            return self
        if not self.schema_ and "schema_" not in self.model_fields_set:
            # built in Python without a schema: fill it in, without marking it as sent
            self.__dict__["schema_"] = expected
            return self
        raise ValueError(f"schema {self.schema_!r} is not {expected!r}")
