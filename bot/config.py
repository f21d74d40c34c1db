"""Settings read from the environment, with one clear message per problem."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SYSTEM_INSTRUCTION = (
    "You are Gemini, a helpful assistant in a team's Slack workspace. Answer in the thread "
    "you were asked in, concisely, using Markdown. Several people may write in one thread; "
    "each message starts with the Slack mention of its author."
)

_HOW_TO_FIX: dict[str, str] = {
    "slack_bot_token": "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from your "
    "Slack app's 'OAuth & Permissions' page",
    "slack_signing_secret": "set SLACK_SIGNING_SECRET to the Signing Secret from your Slack "
    "app's 'Basic Information' page (or set SLACK_APP_TOKEN to use Socket Mode)",
    "slack_app_token": "SLACK_APP_TOKEN must be an app-level token (xapp-…) with the "
    "connections:write scope, from 'Basic Information' → 'App-Level Tokens'",
    "gemini_api_key": "set GEMINI_API_KEY to an API key from Google AI Studio",
}


class Settings(BaseSettings):
    """Everything the bot needs to run, from environment variables (or a .env file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_streaming: Literal["auto", "native", "edit"] = "auto"

    gemini_api_key: SecretStr
    gemini_base_url: str | None = None
    gemini_api_version: str = "v1beta"
    gemini_model: str = "gemini-3.5-flash"
    gemini_timeout_s: float = Field(default=60.0, gt=0)
    """Per HTTP request (and per silent gap in a stream)."""
    gemini_retry_attempts: int = Field(default=3, ge=1, le=10)
    """Total attempts for a create that fails with 408/409/429/5xx before streaming starts."""
    gemini_turn_timeout_s: float = Field(default=300.0, gt=0)
    """Upper bound for one whole answer."""
    google_search: bool = True
    system_instruction: str = DEFAULT_SYSTEM_INSTRUCTION
    gemini_image_model: str = "gemini-3.1-flash-image"
    """Model behind the generate_image tool; empty switches image generation off."""
    max_tool_rounds: int = Field(default=4, ge=1, le=20)
    """Rounds of the bot's own function calls per answer."""
    max_file_mb: float = Field(default=20.0, gt=0)
    """Largest attached file the model gets, in MB."""
    max_turn_files_mb: float = Field(default=40.0, gt=0)
    """Total size of one message's files the model gets, in MB."""
    max_files_per_turn: int = Field(default=10, ge=0)
    """Files of one message the model gets."""
    file_download_timeout_s: float = Field(default=30.0, gt=0)
    """Time limit for downloading one attached file from Slack."""

    agents_enabled: bool = True
    """Managed agents and background runs (`/gemini agent`, `research`, the run_agent tool)."""
    gemini_agent: str = "antigravity-preview-05-2026"
    """Agent behind `/gemini agent` (runs in a remote sandbox)."""
    gemini_research_agent: str = "deep-research-preview-04-2026"
    """Agent behind `/gemini research`."""
    agent_poll_min_s: float = Field(default=2.0, gt=0)
    """First gap between two status checks of a background run; it grows to the maximum."""
    agent_poll_max_s: float = Field(default=30.0, gt=0)
    """Longest gap between two status checks of a background run."""
    agent_max_runtime_s: float = Field(default=3600.0, gt=0)
    """A run still going after this long is cancelled with a message."""
    job_lease_s: float = Field(default=30.0, ge=1.0)
    """How long a process's claim on a job (a run's poll) lasts unless renewed: after a crash,
    another process takes the run over within this time."""

    redis_url: str | None = None
    spool_dir: str = ".spool"
    """Local journal for messages accepted while Redis is unreachable (replayed when it's back)."""
    role: Literal["all", "web", "worker"] = "all"
    """all: one process does everything; web: verify, ack, claim, queue (workers answer);
    worker: answer queued turns. web and worker need REDIS_URL (see Procfile)."""
    workers: int = Field(default=1, ge=1, le=32)
    """Worker processes `make run` starts next to the web process when REDIS_URL is set."""
    worker_nice: int = Field(default=10, ge=0, le=19)
    """Niceness `make run` adds to its workers, so the web process acks first on shared CPUs."""
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    """On SIGTERM, how long running answers may finish before they are handed over."""
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    thread_ttl_days: int = Field(default=30, ge=1)
    edit_interval_s: float = Field(default=1.0, ge=0.2)
    """Minimum gap between two edits of one streamed message."""
    updates_per_minute: int = Field(default=45, ge=1)
    """Workspace budget for chat.update (Slack's Tier 3 is about 50 a minute)."""

    digest_grace_s: float = Field(default=7200.0, ge=0)
    """A scheduled digest missed while every process was down is made up within this time."""
    digest_recording: bool = True
    """Record messages of channels with a digest schedule (digests then need no history reads)."""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value():
            return None
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("agent_poll_max_s")
    @classmethod
    def _poll_range(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("agent_poll_min_s")
        if low is not None and v < low:
            raise ValueError("must not be below AGENT_POLL_MIN_S")
        return v

    @model_validator(mode="after")
    def _http_mode_needs_secret(self) -> Settings:
        if self.slack_app_token is None and not self.slack_signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode")
        return self

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is used when an app-level token is configured."""
        return self.slack_app_token is not None

    @property
    def thread_ttl_s(self) -> int:
        """How long a quiet thread's state is kept, in seconds."""
        return self.thread_ttl_days * 86_400


class ConfigError(Exception):
    """The environment does not describe a runnable bot; the message says how to fix it."""


class _ModeProbe(BaseSettings):
    """Reads just the mode-deciding settings, to report them even when other fields fail."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_bot_token: str = ""
    gemini_api_key: str = ""


def slack_configured() -> bool:
    """Whether any Slack credential is set; without one `python -m bot` opens the playground."""
    probe = _ModeProbe()
    return bool(probe.slack_bot_token or probe.slack_signing_secret or probe.slack_app_token)


def gemini_key_configured() -> bool:
    """Whether GEMINI_API_KEY is set (the playground then uses the real Gemini API)."""
    return bool(_ModeProbe().gemini_api_key)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        probe = _ModeProbe(**{k: v for k, v in overrides.items()  # type: ignore[arg-type]
                              if k in _ModeProbe.model_fields and isinstance(v, str)})
        no_mode = not probe.slack_signing_secret and not probe.slack_app_token
        raise ConfigError(_describe(exc, no_mode=no_mode)) from None


def _describe(exc: ValidationError, *, no_mode: bool) -> str:
    lines = ["The bot cannot start; fix these settings (environment variables or .env):"]
    if no_mode and not any(not e["loc"] for e in exc.errors()):
        lines.append(f"  - SLACK_SIGNING_SECRET is missing: {_HOW_TO_FIX['slack_signing_secret']}.")
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        name = field.upper() or "settings"
        if err["type"] == "missing":
            hint = _HOW_TO_FIX.get(field, "set it")
            lines.append(f"  - {name} is missing: {hint}.")
        elif not field:
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  - {msg}: {_HOW_TO_FIX['slack_signing_secret']}.")
        else:
            # Never echo the offending value: it may be a secret.
            msg = str(err["msg"]).removeprefix("Value error, ")
            hint = _HOW_TO_FIX.get(field)
            lines.append(f"  - {name} {msg}" + (f" ({hint})." if hint else "."))
    return "\n".join(lines)
