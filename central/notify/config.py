"""The [notify] section of central's TOML: channels, routes, quiet hours, the weekly report.

Secrets (bot token, SMTP password, webhook key) are never written in the TOML itself: each is
read from a file (``*_file``, relative to the config file) or an environment variable
(``*_env``) when the config is loaded,
and held as a pydantic ``SecretStr`` (its repr and str are '**********'), so it is never logged.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from protocol.config import Strict, valid_id

SEVERITY = Literal["info", "warning", "critical"]
HHMM_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def read_secret(file: str | None, env: str | None, what: str,
                environ: dict[str, str] | None = None) -> SecretStr | None:
    """The secret from a file (stripped) or an environment variable; ValueError naming the
    file or variable (never the value) if it is missing."""
    environ = dict(os.environ) if environ is None else environ
    if file:
        try:
            with open(file, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ValueError(f"{what}: cannot read secret file {file}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"{what}: secret file {file} is empty")
        return SecretStr(value)
    if env:
        if not environ.get(env):
            raise ValueError(f"{what}: environment variable {env} is not set")
        return SecretStr(environ[env])
    return None


def _hours(v: str | None) -> str | None:
    if v is not None and not HHMM_RANGE.match(v):
        raise ValueError(f"expected HH:MM-HH:MM, got {v!r}")
    return v


class ChannelSection(Strict):
    """One way out: a Telegram bot, an SMTP server or a webhook URL."""

    id: str
    type: Literal["telegram", "email", "webhook"]
    # telegram
    api_base: str = "https://api.telegram.org"
    bot_token_file: str | None = None
    bot_token_env: str | None = None
    # email (SMTP with STARTTLS)
    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    ca_file: str | None = None  # CA bundle to verify the server (default: system CAs)
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    from_addr: str = ""
    # webhook
    url: str = ""
    secret_file: str | None = None
    secret_env: str | None = None
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    _secret: SecretStr | None = PrivateAttr(default=None)  # from *_file / *_env, never TOML

    _ids = field_validator("id")(valid_id)

    @property
    def secret(self) -> SecretStr | None:
        """The bot token, SMTP password or webhook key (read at load; str() hides it)."""
        return self._secret

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> ChannelSection:
        file, env = {"telegram": (self.bot_token_file, self.bot_token_env),
                     "email": (self.password_file, self.password_env),
                     "webhook": (self.secret_file, self.secret_env)}[self.type]
        ctx = info.context or {}
        if file and ctx.get("base") is not None and not os.path.isabs(file):
            file = os.path.join(ctx["base"], file)  # relative to the config file
            attr = {"telegram": "bot_token_file", "email": "password_file",
                    "webhook": "secret_file"}[self.type]
            setattr(self, attr, file)
        self._secret = read_secret(file, env, f"notify.channels {self.id}", ctx.get("env"))
        if self.type == "telegram" and self.secret is None:
            raise ValueError("a telegram channel needs bot_token_file or bot_token_env")
        if self.type == "webhook" and (not self.url.startswith(("http://", "https://"))
                                       or self.secret is None):
            raise ValueError("a webhook channel needs an http(s) url and secret_file or "
                             "secret_env (the HMAC-SHA256 key)")
        if self.type == "email" and (not self.host or "@" not in self.from_addr):
            raise ValueError("an email channel needs host and from_addr")
        return self


class RouteSection(Strict):
    """Who hears about what: a channel, its address, filters and language."""

    id: str
    channel: str
    chat_id: str | None = None  # telegram
    to: list[str] = []  # email recipients
    lang: Literal["en", "id"] = "id"
    min_severity: SEVERITY = "warning"
    sites: list[str] = []  # empty: every site
    site_kinds: list[Literal["park", "office"]] = []  # empty: both
    active_hours: str | None = None  # HH:MM-HH:MM local: the route applies only then
    quiet_hours: str | None = None  # HH:MM-HH:MM local: only quiet_min_severity and above
    quiet_min_severity: SEVERITY = "critical"

    _ids = field_validator("id")(valid_id)
    _hh = field_validator("active_hours", "quiet_hours")(_hours)


class ReportSection(Strict):
    """The weekly budget e-mail."""

    enabled: bool = False
    channel: str | None = None  # an email channel
    to: list[str] = []
    lang: Literal["en", "id"] = "id"
    weekday: Annotated[int, Field(ge=0, le=6)] = 0  # 0 = Monday
    time: str = "07:00"  # local (timezone below)
    low_use_pct: Annotated[float, Field(gt=0, le=100)] = 40.0  # p95 below this % of contract

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        _hours(f"{v}-{v}")
        return v


class NotifySection(Strict):
    """Notifications: channels, routes, delivery tuning and the weekly report."""

    enabled: bool = True
    base_url: str = "http://127.0.0.1:8080"  # links to /noc/nodes/<node>
    timezone: str = "Asia/Jakarta"  # WIB: quiet hours, active hours, report schedule
    settle_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    resolve_hold_s: Annotated[float, Field(ge=0, le=86400)] = 300.0
    retry_min_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    retry_max_s: Annotated[float, Field(gt=0, le=86400)] = 300.0
    channels: list[ChannelSection] = []
    routes: list[RouteSection] = []
    report: ReportSection = ReportSection()

    @model_validator(mode="after")
    def _refs(self) -> NotifySection:
        kinds = {c.id: c.type for c in self.channels}
        if len(kinds) != len(self.channels):
            raise ValueError("notify.channels: an id is listed twice")
        if len({r.id for r in self.routes}) != len(self.routes):
            raise ValueError("notify.routes: an id is listed twice")
        for r in self.routes:
            kind = kinds.get(r.channel)
            if kind is None:
                raise ValueError(f"route {r.id}: unknown channel {r.channel!r}")
            if kind == "telegram" and not r.chat_id:
                raise ValueError(f"route {r.id}: a telegram route needs chat_id")
            if kind == "email" and not r.to:
                raise ValueError(f"route {r.id}: an email route needs to = [...]")
        if self.report.enabled and (kinds.get(self.report.channel or "") != "email"
                                    or not self.report.to):
            raise ValueError("notify.report: needs an email channel and to = [...]")
        return self
