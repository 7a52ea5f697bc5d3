"""A chat client for any OpenAI-compatible endpoint, with an on-disk response cache and token/latency accounting.

Retries with exponential backoff, ``retry-after`` and rate limits are the ``openai`` package's own (``max_retries``);
this layer turns its exceptions into :class:`LLMError` with a ``kind`` the planner can report, and caches replies
keyed by the whole request, so a rerun of the same run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ember.sims.atomic import atomic_write_json


@dataclass(frozen=True)
class LLMReply:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    """Wall time of the request [s]; 0 for a cache hit."""
    cached: bool
    model: str


class LLMError(RuntimeError):
    """A failed request. ``kind``: timeout, rate_limit, server, connection, bad_request, auth, other."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"LLM request failed ({kind}): {message}")


class ChatClient:
    """Args:
    base_url: endpoint root, e.g. ``http://127.0.0.1:8000/v1``.
    model: model name sent with each request.
    api_key: the key; when None it is read from the environment variable ``api_key_env``.
    api_key_env: environment variable holding the key.
    timeout: per-request timeout [s].
    max_retries: retries on 408/409/429/5xx and connection errors, with backoff (the openai client's).
    temperature: sampling temperature.
    max_tokens: completion token cap.
    stream: request server-sent events and assemble the reply.
    cache_dir: folder of cached replies (None: no cache).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        stream: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"planner.base_url must be an http(s) URL such as http://127.0.0.1:8000/v1; got {base_url!r}"
            )
        if not model:
            raise ValueError("planner.model is empty; give the model name the endpoint serves")
        import openai  # imported here so `import ember.planners` stays light

        key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        # Local servers accept any key; the client requires a non-empty one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key or "not-needed", timeout=timeout, max_retries=max_retries
        )
        self._openai = openai
        self._error_kinds = (
            (openai.APITimeoutError, "timeout"),
            (openai.RateLimitError, "rate_limit"),
            (openai.InternalServerError, "server"),
            (openai.APIConnectionError, "connection"),
            (openai.AuthenticationError, "auth"),
            (openai.BadRequestError, "bad_request"),
        )
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stream = stream
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if self.cache_dir is not None and self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise ValueError(f"planner.cache_dir={str(cache_dir)!r} is a file; give a folder, or null for no cache")

    def _key(self, request: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()

    def complete(self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None = None) -> LLMReply:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if response_format is not None:
            request["response_format"] = response_format
        cache_file = self.cache_dir / f"{self._key(request)}.json" if self.cache_dir else None
        if cache_file is not None and cache_file.is_file():
            try:
                data = json.loads(cache_file.read_text())
                cached = LLMReply(**{**data, "cached": True, "latency_s": 0.0})
                if not (isinstance(cached.text, str) and isinstance(cached.finish_reason, str)):
                    raise TypeError("text and finish_reason must be strings")
                return cached
            except (json.JSONDecodeError, TypeError, UnicodeDecodeError, RecursionError):
                cache_file.unlink(missing_ok=True)  # a damaged entry is dropped and fetched again
        t0 = time.perf_counter()
        try:
            reply = self._stream(request) if self.stream else self._once(request)
        except self._openai.APIError as err:
            # Most specific class first: RateLimitError and the others subclass APIStatusError.
            kind = next((k for cls, k in self._error_kinds if isinstance(err, cls)), "other")
            raise LLMError(kind, str(err)) from err
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, RecursionError) as err:
            # a 200 whose body is not a chat completion (no JSON, no choices, odd types): the endpoint's fault
            raise LLMError(
                "malformed",
                f"the endpoint's reply is not an OpenAI chat completion ({type(err).__name__}: {err}); check that "
                "planner.base_url is an OpenAI-compatible /v1 root",
            ) from err
        text, finish, usage = reply
        result = LLMReply(
            text=text,
            finish_reason=finish,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            latency_s=round(time.perf_counter() - t0, 4),
            cached=False,
            model=self.model,
        )
        if cache_file is not None and finish == "stop":
            atomic_write_json(cache_file, asdict(result))
        return result

    def _once(self, request: dict[str, Any]) -> tuple[str, str, tuple[int, int]]:
        response = self._client.chat.completions.create(**request)
        if not response.choices:
            raise ValueError("it has no choices")
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal and not _text(choice.message.content).strip():  # a model that declines says why here
            return str(refusal), "refusal", _usage(response.usage)
        return _text(choice.message.content), str(choice.finish_reason or "stop"), _usage(response.usage)

    def _stream(self, request: dict[str, Any]) -> tuple[str, str, tuple[int, int]]:
        parts: list[str] = []
        finish, usage = "stop", (0, 0)
        for chunk in self._client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        ):
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or []:
                if choice.delta and choice.delta.content:
                    parts.append(_text(choice.delta.content))
                if choice.finish_reason:
                    finish = str(choice.finish_reason)
        return "".join(parts), finish, usage


def _text(content: object) -> str:
    """A message's content: a string, or (some servers) a list of parts whose text parts are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) if isinstance(p, dict) else str(getattr(p, "text", "") or "") for p in content
        )
    raise TypeError(f"message content is a {type(content).__name__}, not text")


def _usage(usage: object) -> tuple[int, int]:
    """Token counts, 0 where the server gives none or something that is not a count."""

    def count(name: str) -> int:
        value = getattr(usage, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return (count("prompt_tokens"), count("completion_tokens")) if usage is not None else (0, 0)
