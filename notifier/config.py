"""Settings: a TOML file, overridden by NOTIFIER_* environment variables.

The file comes from `--config` or NOTIFIER_CONFIG. Nested keys use `__` in variables:
NOTIFIER_EMAIL__PASSWORD overrides only `[email] password`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notifier.durations import parse_duration
from notifier.errors import ConfigError
from notifier.source_settings import SourceList
from notifier.source_settings import SourceSettings as SourceSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/notifier.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = DEFAULT_DATABASE_URL
    echo: bool = False
    # PostgreSQL: seconds a statement may take before the client gives up on it. A server
    # that hangs (rather than refusing connections) then counts as an outage, which the
    # worker waits out, instead of stalling it for good. Migrations are not limited.
    statement_timeout: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (an async driver)"
            )
        return value


class EmailRelaySettings(_Section):
    """A further SMTP relay, tried in order after `[email]` when the ones before it are
    down or throttling (`[[email.providers]]`). Unset fields are `[email]`'s."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool | None = None
    start_tls: bool | None = None
    from_address: str | None = None
    from_name: str | None = None
    pool_size: int | None = Field(default=None, ge=1, le=256)
    timeout: float | None = Field(default=None, gt=0)
    message_id_domain: str | None = None
class CapacitySettings(_Section):
    """What a provider account may carry ("send no more than"): unset, it is not paced."""

    # Messages per second (SMS: segments per second, per sending number).
    rate: float | None = Field(default=None, gt=0, le=100_000)
    # How many may go at once after a quiet spell, above the steady rate.
    burst: int = Field(default=1, ge=1, le=100_000)
    # At most this many messages (SMS: segments) per UTC day; the rest wait for midnight.
    daily_quota: int | None = Field(default=None, ge=1)
    # How much the provider queues beyond what it sends at once, in time at this rate
    # (Twilio: 10 hours); a forecast past it warns that messages will be refused.
    provider_queue: timedelta = timedelta(hours=10)

    @field_validator("provider_queue", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return _duration(value)


class EmailSettings(_Section):
    # The first relay's name in the delivery log (which provider carried each message).
    name: str = Field(default="relay-1", min_length=1, max_length=64)
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool = False
    start_tls: bool = False
    from_address: str = "notifier@example.com"
    from_name: str = "notifier"
    # Several connections are reused for every message: SMTP sends one message at a time
    # per connection, so parallelism means connections, never one connection per message.
    pool_size: int = Field(default=8, ge=1, le=256)
    timeout: float = Field(default=30.0, gt=0)
    message_id_domain: str = "notifier.local"
    capacity: CapacitySettings = CapacitySettings()
    providers: list[EmailRelaySettings] = Field(default_factory=list, max_length=8)

    def relays(self) -> list[EmailSettings]:
        """Every relay in order: this block first, then `[[email.providers]]`, each with
        this block's values where it sets none."""
        return _in_order(self, self.providers, "relay")

    @model_validator(mode="after")
    def _names_differ(self) -> EmailSettings:
        self.relays()
        return self


class SmsAccountSettings(_Section):
    """A further SMS account or sender pool, tried in order after `[sms]`
    (`[[sms.providers]]`). Unset fields are `[sms]`'s."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None
    api_base_url: str | None = None
    concurrency: int | None = Field(default=None, ge=1, le=512)
    timeout: float | None = Field(default=None, gt=0)


_Block = TypeVar("_Block", bound=BaseModel)


def _in_order(block: _Block, further: Sequence[BaseModel], default_name: str) -> list[_Block]:
    """A channel's providers in order: its own block first, then each further provider with
    the block's values where it sets none (unnamed: `<default_name>-<position>`)."""
    first = block.model_copy(update={"providers": []})
    found = [first]
    for i, provider in enumerate(further, start=2):
        update = provider.model_dump(exclude_none=True)
        update.setdefault("name", f"{default_name}-{i}")
        found.append(first.model_copy(update=update))
    # A name is what the delivery log, the report and /metrics say carried a message.
    seen: set[str] = set()
    for name in (str(getattr(provider, "name", "")) for provider in found):
        if name in seen:
            raise ValueError(f"the provider name {name!r} is used twice")
        seen.add(name)
    return found


class SmsSettings(_Section):
    name: str = Field(default="sms-1", min_length=1, max_length=64)
    account_sid: str = "AC00000000000000000000000000000000"
    auth_token: SecretStr = SecretStr("change-me")
    from_number: str = "+15005550006"
    api_base_url: str = "https://api.twilio.com"
    concurrency: int = Field(default=16, ge=1, le=512)
    timeout: float = Field(default=15.0, gt=0)
    default_region: str = "US"
    # Messages longer than this many segments are refused at planning, not sent in pieces.
    max_segments: int = Field(default=4, ge=1, le=10)
    # More sending numbers beside from_number: messages take turns, and the account's
    # capacity is the per-number rate times the numbers.
    more_from_numbers: list[str] = Field(default_factory=list, max_length=1000)
    # A Messaging Service sends from its own pool instead of from_number; its capacity
    # rate is then the whole pool's.
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    capacity: CapacitySettings = CapacitySettings()

    @property
    def senders(self) -> int:
        """How many sending numbers share the per-number rate (1 for a Messaging Service,
        whose rate is the pool's)."""
        if self.messaging_service_sid is not None:
            return 1
        return 1 + len(self.more_from_numbers)

    providers: list[SmsAccountSettings] = Field(default_factory=list, max_length=8)

    def accounts(self) -> list[SmsSettings]:
        """Every account in order: this block first, then `[[sms.providers]]`."""
        return _in_order(self, self.providers, "sms")

    @model_validator(mode="after")
    def _names_differ(self) -> SmsSettings:
        self.accounts()
        return self


class WhatsAppSettings(_Section):
    """WhatsApp through Twilio's Messages API: off unless `enabled`.

    The account and API address default to the [sms] ones (one Twilio account for both);
    the sender is the WhatsApp-enabled number, in E.164 (the `whatsapp:` prefix is added
    on the wire).
    """

    enabled: bool = False
    from_number: str = "+14155238886"
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    api_base_url: str | None = None
    concurrency: int = Field(default=16, ge=1, le=512)
    timeout: float = Field(default=15.0, gt=0)

    @field_validator("from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        number = value.removeprefix("whatsapp:")
        if not (number.startswith("+") and number[1:].isdigit() and 2 <= len(number) <= 16):
            raise ValueError("must be an E.164 number such as +14155238886")
        return number


class DeliverySettings(_Section):
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base: float = Field(default=2.0, gt=0)
    backoff_max: float = Field(default=600.0, gt=0)
    lease_seconds: float = Field(default=120.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # While a provider throttles or is down, a message waits rather than burning attempts,
    # for at most this long after it was planned (its news may be stale after that; a newer
    # message about the same subject supersedes it anyway).
    max_patience: timedelta = timedelta(hours=2)
    # A provider's circuit breaker opens after this many failures in a row (refused
    # connections, 5xx, timeouts) and lets one probe through after `breaker_cooldown`.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown: timedelta = timedelta(seconds=30)

    @field_validator("max_patience", "breaker_cooldown", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return _duration(value)


def _duration(value: Any) -> Any:
    # Accept "30m", "4h30m", "PT2H" as well as seconds, like the rule files do.
    if isinstance(value, str):
        return parse_duration(value)
    return value


class SchedulerSettings(_Section):
    # How long before a promised ETA operations are warned (incident.eta_near).
    eta_near_margin: timedelta = timedelta(minutes=30)
    # An order not shipped this long before its promised delivery is at risk (order.at_risk).
    order_at_risk_margin: timedelta = timedelta(days=1)
    # An overdue follow-up older than this (after downtime) is skipped, not sent late.
    stale_after: timedelta = timedelta(hours=2)
    # How often an idle worker looks for work another process may have added (seconds).
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    # A claim on an event being planned lasts this long (seconds) and is renewed every
    # quarter of it while the fan-out goes on: a worker that dies mid-fan-out holds the rest
    # of the audience back this long, not a delivery lease.
    planning_lease: float = Field(default=6.0, ge=0.2, le=600)

    @field_validator("eta_near_margin", "order_at_risk_margin", "stale_after", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return _duration(value)


class GroupingSettings(_Section):
    # How long a message from a rule with `group = true` waits for the customer's other
    # grouped messages on the same channel, to go as one. 0 turns grouping off.
    window: timedelta = timedelta(minutes=2)

    @field_validator("window", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return _duration(value)


class CompanySettings(_Section):
    name: str = "Example Co"
    support_url: str = "https://example.com/support"


class ApiSettings(_Section):
    """The HTTP API (`notifier serve`): its public address and what it signs."""

    # Where customers and Twilio reach this server, e.g. https://notify.example.com: the
    # base of List-Unsubscribe links and Twilio status callbacks, and the URL Twilio's
    # webhook signatures are checked against. Unset: neither header is added.
    public_base_url: str | None = None
    # Signs unsubscribe links (HMAC-SHA256). Unset: emails carry no List-Unsubscribe.
    unsubscribe_secret: SecretStr | None = None
    # Where customers' SMS replies (other than STOP, START, HELP) are forwarded by email.
    support_email: str | None = None
    # Requests worked on at once; more are answered 503 with Retry-After at once rather
    # than queued until they time out (health checks, /metrics and webhooks always pass).
    # 256: at the 200 requests/s the API is built for, a stall of about a second (a GC
    # pause, a checkpoint, a busy neighbour) is absorbed rather than shed, and the queue is
    # still under a second of work (about 3 ms of CPU a request). With 64, a third of a
    # second was enough to turn callers away.
    max_in_flight: int = Field(default=256, ge=1)
    # How often (seconds, at most) the public status page asks the database whether
    # anything changed; visitors' requests never wait for it.
    status_refresh: float = Field(default=2.0, ge=0, le=3600)
    # A request body over this is refused with 413 before it is read whole; the customer
    # import (up to 10,000 rows) has its own, larger limit.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_import_bytes: int = Field(default=16_777_216, ge=1024)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")) or any(c in value for c in "?# "):
            raise ValueError("must be an http(s):// URL without query, fragment or spaces")
        return value.rstrip("/")

    @field_validator("unsubscribe_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value


class PathsSettings(_Section):
    rules: Path = Path("rules")
    templates: Path = Path("templates")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database: DatabaseSettings = DatabaseSettings()
    email: EmailSettings = EmailSettings()
    sms: SmsSettings = SmsSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    delivery: DeliverySettings = DeliverySettings()
    paths: PathsSettings = PathsSettings()
    company: CompanySettings = CompanySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    grouping: GroupingSettings = GroupingSettings()
    api: ApiSettings = ApiSettings()
    default_locale: str = "en"
    default_timezone: str = "UTC"
    operations_email: str | None = None
    sources: SourceList = Field(default_factory=list)  # [[sources]]: source watchers

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Sources listed first win: arguments, then the environment, then the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_PATH.get("path")
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


_CONFIG_PATH: dict[str, Path | None] = {"path": None}


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (or NOTIFIER_CONFIG) and the environment.

    Raises ConfigError naming the key and the reason when anything is wrong.
    """
    if path is None and os.environ.get("NOTIFIER_CONFIG"):
        path = os.environ["NOTIFIER_CONFIG"]
    config_path = Path(path) if path is not None else None
    where = str(config_path) if config_path else "environment"
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"config file {config_path} does not exist")
        try:
            tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{config_path}: not UTF-8 text") from None
    _CONFIG_PATH["path"] = config_path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {key}: {first['msg']}") from None
    finally:
        _CONFIG_PATH["path"] = None
