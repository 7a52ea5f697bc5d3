"""What every LLM planner does with its endpoint and the model's replies, whatever it plans (skill trees, HOI stages).

- :class:`FormatLadder`: the response format to ask for; in ``auto`` mode a 400 for it steps down from strict
  structured output to JSON mode to plain prompting (``DOWNGRADE``), with an ``llm_format_downgrade`` event.
- :func:`reply_object`: the reply's one JSON object, or the problems that go back to the model (cut off, filtered,
  too long, not JSON, not an object), each with a hint.
- :func:`call_event`: the ``llm_call`` trace event of a reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ember.planners.llm.client import ChatClient, LLMError, LLMReply
from ember.planners.validate import Problem

STRUCTURED_MODES = ("auto", "json_schema", "json_object", "none")
DOWNGRADE = {"json_schema": "json_object", "json_object": "none"}
FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def response_format(mode: str, name: str, schema: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """The request's ``response_format`` for ``mode`` (``json_schema``: strict, with ``schema()`` named ``name``)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema()}}
    return {"type": "json_object"} if mode == "json_object" else None


class FormatLadder:
    """The response format a planner asks for: ``structured`` (``STRUCTURED_MODES``); in ``auto`` mode it starts at
    strict structured output and steps down (``DOWNGRADE``) each time the endpoint answers 400, for good."""

    def __init__(self, structured: str) -> None:
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"planner.structured must be one of {list(STRUCTURED_MODES)}. Got {structured!r}.")
        self.structured = structured
        self.mode = "json_schema" if structured == "auto" else structured

    def complete(
        self,
        client: ChatClient,
        messages: list[dict[str, Any]],
        make_format: Callable[[str], dict[str, Any] | None],
        emit: Callable[[dict[str, Any]], None],
    ) -> LLMReply:
        """One request in the current mode (``make_format(mode)`` builds its ``response_format``); a 400 in ``auto``
        mode steps down with an ``llm_format_downgrade`` event and retries; anything else is raised."""
        while True:
            try:
                return client.complete(messages, make_format(self.mode))
            except LLMError as err:
                if self.structured != "auto" or err.kind != "bad_request" or self.mode not in DOWNGRADE:
                    raise
                emit(
                    {
                        "event": "llm_format_downgrade",
                        "from": self.mode,
                        "to": DOWNGRADE[self.mode],
                        "message": str(err),
                    }
                )
                self.mode = DOWNGRADE[self.mode]


def reply_object(
    reply: LLMReply, max_chars: int, shorter: str, shape: str
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The one JSON object of ``reply`` (a code fence around it is stripped), else ``None`` and the problem. Hints:
    ``shorter`` for a reply cut off or over ``max_chars`` characters, ``shape`` for JSON that is not an object."""
    if reply.finish_reason == "length":
        return None, [Problem("$", "the reply was cut off at the token limit (finish_reason=length)", shorter)]
    if reply.finish_reason == "content_filter":
        return None, [Problem("$", "the reply was withheld by the endpoint's content filter", "answer with JSON only")]
    if reply.finish_reason == "refusal":
        return None, [Problem("$", f"the model refused: {reply.text[:300]}", "answer with the JSON asked for")]
    if not reply.text.strip():
        return None, [Problem("$", "the reply is empty (no content)", "answer with one JSON object")]
    if len(reply.text) > max_chars:
        msg = f"the reply has {len(reply.text)} characters, over the limit of {max_chars}"
        return None, [Problem("$", msg, shorter)]
    text = reply.text.strip()
    fenced = FENCE.match(text)
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as err:
        msg = f"the reply is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        return None, [Problem("$", msg, "answer with one JSON object and nothing else")]
    except RecursionError:
        return None, [Problem("$", "the reply's JSON nests too deeply to read", "answer with one plan object")]
    except ValueError as err:  # an integer of 4300+ digits
        return None, [Problem("$", f"the reply's JSON cannot be read: {err}"[:300], "answer with one plan object")]
    if not isinstance(data, dict):
        return None, [Problem("$", f"the reply is JSON {type(data).__name__}, not an object", shape)]
    return data, []


def call_event(round_: int, reply: LLMReply, problems: list[Problem], **extra: Any) -> dict[str, Any]:
    """The ``llm_call`` trace event for ``reply`` in repair round ``round_`` with the problems found in it."""
    return {
        "event": "llm_call",
        **extra,
        "round": round_,
        "model": reply.model,
        "cached": reply.cached,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "latency_s": reply.latency_s,
        "finish_reason": reply.finish_reason,
        "problems": [p.to_dict() for p in problems],
    }
