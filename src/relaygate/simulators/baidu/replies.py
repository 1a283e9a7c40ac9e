"""Validation and deterministic answers of the fake Qianfan v1 chat API (protocol notes §2).

Rules (what tests can rely on):

* The body is checked as the real API documents it: ``messages`` non-empty, odd in number,
  roles alternating ``user`` (or ``function``), ``assistant``, ... ending on the user side; no
  ``system`` role in ``messages``; string contents; ``temperature`` in (0, 1], ``top_p`` in
  [0, 1], ``penalty_score`` in [1, 2], ``max_output_tokens`` in [2, 2048], at most 4 ``stop``
  strings of up to 20 characters. Violations -> ``error_code`` 336003 with a message.
* Text: ``reply_words`` words seeded by ``system`` + ``messages`` (so streamed and whole answers
  agree). Last turn a ``function`` result -> ``According to the function result: <name> returned
  <content>``. ``functions`` given and one of their names in the last user text -> a
  ``function_call`` with arguments generated from its schema instead of text.
* ``stop`` cuts the text before the first stop string.
* Usage: prompt_tokens = o200k tokens of ``system`` and every message content (+1 per message);
  completion_tokens = tokens of the text (or of the call's name and arguments).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from relaygate.simulators.openai import replies, tokens
from relaygate.simulators.openai.toolcalls import arguments_json

PARAM_ERROR = 336003


class BaiduError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_code": self.code, "error_msg": self.message}


def _range(body: dict[str, Any], name: str, low: float, high: float, low_open: bool = False) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BaiduError(PARAM_ERROR, f"{name} must be a number")
    if value > high or value < low or (low_open and value == low):
        left = "(" if low_open else "["
        raise BaiduError(PARAM_ERROR, f"{name} range is {left}{low}, {high}]")


def validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BaiduError(336002, "Invalid JSON")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BaiduError(PARAM_ERROR, "messages is empty")
    if len(messages) % 2 == 0:
        raise BaiduError(PARAM_ERROR, "the length of messages must be an odd number")
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        expected = ("user", "function") if i % 2 == 0 else ("assistant",)
        if role not in expected:
            raise BaiduError(PARAM_ERROR, f"invalid role in message {i}")
        if not isinstance(msg.get("content"), str):
            raise BaiduError(PARAM_ERROR, f"the content of message {i} must be a string")
        if role == "function" and not isinstance(msg.get("name"), str):
            raise BaiduError(PARAM_ERROR, f"message {i}: a function message needs a name")
    if "system" in body and not isinstance(body["system"], str):
        raise BaiduError(PARAM_ERROR, "system must be a string")
    _range(body, "temperature", 0, 1.0, low_open=True)
    _range(body, "top_p", 0, 1.0)
    _range(body, "penalty_score", 1.0, 2.0)
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 2 <= limit <= 2048):
        raise BaiduError(PARAM_ERROR, "max_output_tokens range is [2, 2048]")
    stop = body.get("stop")
    if stop is not None and (not isinstance(stop, list) or len(stop) > 4
                             or any(not isinstance(s, str) or len(s) > 20 for s in stop)):
        raise BaiduError(PARAM_ERROR, "stop: at most 4 strings of up to 20 characters")
    functions = body.get("functions")
    if functions is not None and (not isinstance(functions, list)
                                  or any(not isinstance(f, dict) or not isinstance(f.get("name"), str)
                                         for f in functions)):
        raise BaiduError(PARAM_ERROR, "functions must be a list of {name, description, parameters}")
    return body


@dataclass
class Answer:
    id: str
    created: int
    text: str
    function_call: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int

    def usage(self, final: bool = True) -> dict[str, int]:
        completion = self.completion_tokens if final else 0
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}


def plan(body: dict[str, Any], words: int) -> Answer:
    messages = body["messages"]
    seed = replies.request_seed([body.get("system") or "", messages])
    last = messages[-1]
    call: dict[str, Any] | None = None
    if last["role"] == "function":
        text = f"According to the function result: {last['name']} returned {last['content']}"
    else:
        fn = next((f for f in body.get("functions") or () if f["name"].lower() in last["content"].lower()), None)
        if fn is not None:
            call = {"name": fn["name"], "arguments": arguments_json(fn.get("parameters")),
                    "thoughts": f"The user asked for {fn['name']}."}
            text = ""
        else:
            text = replies.reply_text(seed, 0, words)
    for s in body.get("stop") or ():
        if s and s in text:
            text = text[:text.index(s)]
    prompt = tokens.count(body.get("system") or "") + sum(tokens.count(m["content"]) + 1 for m in messages)
    completion = tokens.count(text) + (tokens.count(call["name"]) + tokens.count(call["arguments"]) if call else 0)
    return Answer(id="as-" + os.urandom(5).hex(), created=int(time.time()), text=text, function_call=call,
                  prompt_tokens=prompt, completion_tokens=completion)
