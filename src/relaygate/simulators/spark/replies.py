"""Request-frame validation and deterministic answers of the fake Spark API (notes §4-§5).

Rules (what tests can rely on):

* ``header.app_id`` must be the app of the signing API key (else 11200); ``parameter.chat.domain``
  must be the one of the URL's version (``lite`` or ``general`` on v1.1; else 10163);
  ``temperature`` in (0, 1], ``max_tokens`` in [1, 8192] (4096 on v1.1), ``top_k`` in [1, 6]
  (else 10005); ``payload.message.text`` a non-empty list of ``{role: system|user|assistant,
  content: str}`` (else 10004); ``payload.functions`` only on the 3.x/Max/Ultra domains (10163);
  more than 8000 prompt tokens -> 10907.
* Text: ``reply_words`` words seeded by the messages (streamed and whole answers agree). A
  function whose name appears in the last user message is called instead (one ``function_call``
  item, arguments generated from its schema).
* Usage (last frame only): ``question_tokens`` = tokens of the last message, ``prompt_tokens`` =
  tokens of every message, ``completion_tokens`` = tokens of the text or the call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from relaygate.simulators.openai import replies, tokens
from relaygate.simulators.openai.toolcalls import arguments_json

DOMAINS = {"/v1.1/chat": ("lite", "general"), "/v2.1/chat": ("generalv2",), "/v3.1/chat": ("generalv3",),
           "/chat/pro-128k": ("pro-128k",), "/v3.5/chat": ("generalv3.5",), "/chat/max-32k": ("max-32k",),
           "/v4.0/chat": ("4.0Ultra",)}
FUNCTION_DOMAINS = ("generalv3", "generalv3.5", "max-32k", "pro-128k", "4.0Ultra")
MAX_PROMPT_TOKENS = 8000


class SparkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validate(frame: Any, path: str, app_id: str) -> dict[str, Any]:
    if not isinstance(frame, dict):
        raise SparkError(10003, "user message format error: not a JSON object")
    header, parameter, payload = frame.get("header"), frame.get("parameter"), frame.get("payload")
    if not isinstance(header, dict) or not isinstance(parameter, dict) or not isinstance(payload, dict):
        raise SparkError(10004, "user data schema error: header, parameter and payload are required")
    if header.get("app_id") != app_id:
        raise SparkError(11200, "licence error: the app_id does not belong to this api key")
    chat = parameter.get("chat")
    if not isinstance(chat, dict) or chat.get("domain") not in DOMAINS[path]:
        raise SparkError(10163, f"engine parameter schema check failed: domain must be one of {DOMAINS[path]}")
    temperature = chat.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 < temperature <= 1):
        raise SparkError(10005, "user parameter value error: temperature must be in (0, 1]")
    limit = chat.get("max_tokens")
    high = 4096 if path == "/v1.1/chat" else 8192
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= high):
        raise SparkError(10005, f"user parameter value error: max_tokens must be in [1, {high}]")
    top_k = chat.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or not 1 <= top_k <= 6):
        raise SparkError(10005, "user parameter value error: top_k must be in [1, 6]")
    message = payload.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(text, list) or not text or any(
            not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant")
            or not isinstance(m.get("content"), str) for m in text):
        raise SparkError(10004, "user data schema error: payload.message.text")
    if "functions" in payload:
        functions = payload["functions"].get("text") if isinstance(payload["functions"], dict) else None
        if chat["domain"] not in FUNCTION_DOMAINS:
            raise SparkError(10163, f"engine parameter schema check failed: no functions on {chat['domain']}")
        if not isinstance(functions, list) or any(not isinstance(f, dict) or not isinstance(f.get("name"), str)
                                                  for f in functions):
            raise SparkError(10004, "user data schema error: payload.functions.text")
    if sum(tokens.count(m["content"]) for m in text) > MAX_PROMPT_TOKENS:
        raise SparkError(10907, "token count exceeds the limit")
    return frame


@dataclass
class Answer:
    sid: str
    text: str
    call: dict[str, Any] | None
    question_tokens: int
    prompt_tokens: int
    completion_tokens: int

    def usage(self, as_strings: bool) -> dict[str, Any]:
        numbers = {"question_tokens": self.question_tokens, "prompt_tokens": self.prompt_tokens,
                   "completion_tokens": self.completion_tokens,
                   "total_tokens": self.prompt_tokens + self.completion_tokens}
        return {k: str(v) for k, v in numbers.items()} if as_strings else numbers


def plan(frame: dict[str, Any], words: int) -> Answer:
    messages = frame["payload"]["message"]["text"]
    last = messages[-1]["content"]
    functions = (frame["payload"].get("functions") or {}).get("text") or []
    fn = next((f for f in functions if f["name"].lower() in last.lower()), None)
    call = {"name": fn["name"], "arguments": arguments_json(fn.get("parameters"))} if fn else None
    text = "" if call else replies.reply_text(replies.request_seed(messages), 0, words)
    completion = tokens.count(text) + (tokens.count(call["name"]) + tokens.count(call["arguments"]) if call else 0)
    return Answer(sid=f"cht000{os.urandom(4).hex()}@dx{os.urandom(8).hex()}", text=text, call=call,
                  question_tokens=tokens.count(last), prompt_tokens=sum(tokens.count(m["content"]) for m in messages),
                  completion_tokens=completion)
