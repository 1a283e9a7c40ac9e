"""OpenAI chat request -> Qianfan v1 (ERNIE) chat body and endpoint (protocol notes §2, §5).

* ``system``/``developer`` messages -> the top-level ``system`` string (joined; ERNIE has no
  system role inside ``messages``).
* ``messages`` must alternate ``user, assistant, user, ...`` and end with a user turn (odd
  length). The conversation is repaired rather than refused: consecutive turns of one side are
  merged, leading and trailing assistant turns are dropped. Tool results become ERNIE
  ``function`` turns (the user side); a tool result next to a user turn is folded into it as text.
* ERNIE takes text only: text parts are joined, an image part is refused (another channel of the
  model may take it).
* ``temperature`` -> (0, 1] (0 becomes 0.01, above 1 is clamped); ``top_p`` -> [0, 1];
  ``frequency_penalty`` (or ``presence_penalty``) p > 0 -> ``penalty_score`` 1 + p/2 in [1, 2];
  ``max_tokens`` -> ``max_output_tokens``; ``user`` -> ``user_id``; ``stop`` at most 4.
* ``tools`` (or legacy ``functions``) -> ERNIE ``functions``; ``tool_choice: "none"`` sends none.
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.anthropic.tools import reject
from relaygate.providers.base import ChatRequest

# Gateway model name (lower case) -> endpoint suffix; anything else: the lower-cased name itself.
ENDPOINTS: dict[str, str] = {
    "ernie-bot": "completions", "ernie-3.5": "completions", "ernie-3.5-8k": "completions",
    "ernie-bot-4": "completions_pro", "ernie-4.0": "completions_pro", "ernie-4.0-8k": "completions_pro",
    "ernie-bot-turbo": "eb-instant", "ernie-lite-8k-0922": "eb-instant", "ernie-instant": "eb-instant",
    "ernie-bot-8k": "ernie_bot_8k",
    "ernie-lite-8k-0308": "ernie-lite-8k",
    "ernie-speed": "ernie_speed", "ernie-speed-8k": "ernie_speed",
    "bloomz-7b": "bloomz_7b1",
}
CHAT_PATH = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"
MAX_STOP = 4
USER_SIDE = ("user", "function")


def endpoint_for(model: str, config: dict[str, Any]) -> str:
    """Channel config ``endpoints`` ({model: suffix}) first, for models the table does not know."""
    custom = config.get("endpoints")
    if isinstance(custom, dict) and isinstance(custom.get(model), str):
        return custom[model]
    return ENDPOINTS.get(model.lower(), model.lower())


def build_body(req: ChatRequest) -> dict[str, Any]:
    body = req.body
    system, messages = convert_messages(body["messages"])
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    temperature = _number(body.get("temperature"))
    if temperature is not None:
        out["temperature"] = min(max(temperature, 0.01), 1.0)
    top_p = _number(body.get("top_p"))
    if top_p is not None:
        out["top_p"] = min(max(top_p, 0.0), 1.0)
    penalty = _number(body.get("frequency_penalty"))
    penalty = penalty if penalty is not None else _number(body.get("presence_penalty"))
    if penalty is not None and penalty > 0:
        out["penalty_score"] = min(1.0 + penalty / 2, 2.0)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        out["max_output_tokens"] = max(2, limit)
    if isinstance(body.get("user"), str) and body["user"]:
        out["user_id"] = body["user"]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)] \
        if isinstance(stop, list) else []
    if stops:
        out["stop"] = stops[:MAX_STOP]
    functions = convert_functions(body)
    if functions:
        out["functions"] = functions
    if req.stream:
        out["stream"] = True
    return out


def convert_functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("tool_choice") == "none" or body.get("function_call") == "none":
        return []
    if body.get("tools"):
        if not isinstance(body["tools"], list):
            raise reject("tools must be an array of tools.")
        fns = []
        for i, tool in enumerate(body["tools"]):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise reject(f"tools[{i}]: only function tools can be sent to this model.")
            fns.append(tool.get("function"))
    elif isinstance(body.get("functions"), list):
        fns = list(body["functions"])
    else:
        return []
    out = []
    for i, fn in enumerate(fns):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise reject(f"tools[{i}]: a function with a name is required.")
        item: dict[str, Any] = {"name": fn["name"], "description": str(fn.get("description") or fn["name"]),
                                "parameters": fn.get("parameters") if isinstance(fn.get("parameters"), dict)
                                else {"type": "object", "properties": {}}}
        out.append(item)
    return out


def convert_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name
    for i, msg in enumerate(messages):
        role = msg["role"]
        text = flatten(msg.get("content"), f"messages[{i}]")
        if role in ("system", "developer"):
            if text:
                system.append(text)
            continue
        if role == "user":
            turn: dict[str, Any] = {"role": "user", "content": text}
        elif role == "assistant":
            turn = {"role": "assistant", "content": text}
            call = _first_call(msg, names)
            if call is not None:
                turn["function_call"] = call
        elif role in ("tool", "function"):
            call_id = msg.get("tool_call_id")
            name = names.get(call_id) if isinstance(call_id, str) else None
            turn = {"role": "function", "name": str(name or msg.get("name") or "function"), "content": text}
        else:
            raise reject(f"messages[{i}]: the role {role!r} is not supported by this model.")
        _append(turns, turn)
    while turns and turns[0]["role"] == "assistant":
        turns.pop(0)
    while turns and turns[-1]["role"] == "assistant":
        turns.pop()
    if not turns:
        raise reject("At least one user message is required.")
    return "\n\n".join(system), turns


def _append(turns: list[dict[str, Any]], turn: dict[str, Any]) -> None:
    """Keep strict alternation: a turn on the same side as the previous one is merged into it."""
    if not turns or (turns[-1]["role"] in USER_SIDE) != (turn["role"] in USER_SIDE):
        turns.append(turn)
        return
    last = turns[-1]
    if last["role"] == "assistant":
        last["content"] = _join(last["content"], turn["content"])
        if "function_call" in turn:
            last["function_call"] = turn["function_call"]
        return
    if last["role"] == turn["role"] == "user":
        last["content"] = _join(last["content"], turn["content"])
        return
    # a function result next to a user turn (or a second result): one user turn holding both as text
    turns[-1] = {"role": "user", "content": _join(_as_user_text(last), _as_user_text(turn))}


def _as_user_text(turn: dict[str, Any]) -> str:
    if turn["role"] == "function":
        return f"{turn['name']} returned: {turn['content']}"
    return str(turn["content"])


def _join(a: str, b: str) -> str:
    return f"{a}\n{b}" if a and b else a or b


def _first_call(msg: dict[str, Any], names: dict[str, str]) -> dict[str, str] | None:
    """ERNIE carries one function call per assistant turn: the first of the OpenAI tool calls."""
    calls = msg.get("tool_calls")
    first: dict[str, Any] | None = None
    if isinstance(calls, list):
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                if isinstance(call.get("id"), str):
                    names[call["id"]] = str(fn.get("name") or "")
                first = first or fn
    elif isinstance(msg.get("function_call"), dict):
        first = msg["function_call"]
    if first is None:
        return None
    return {"name": str(first.get("name") or ""), "arguments": str(first.get("arguments") or "{}")}


def flatten(content: Any, where: str) -> str:
    """A message's text; image, audio and file parts cannot be sent to a text-only upstream."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise reject(f"{where}.content must be a string or an array of parts.")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        elif kind is not None:
            raise reject(f"{where}.content[{j}]: this model takes text only, not {kind!r} parts.")
    return "\n".join(texts)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
