"""Fine-tuning inputs: base models, training-file contents and hyperparameters (with the real checks).

* Base models: ``gpt-4o-mini*``, ``gpt-4o*``, ``gpt-4.1*``, ``gpt-3.5-turbo*``, ``o4-mini*``,
  ``babbage-002``, ``davinci-002``, or an ``ft:`` model this simulator produced.
* Training / validation files must exist with purpose ``fine-tune``; every line must be an example
  of the method's shape (supervised/reinforcement: ``messages`` with at least one ``assistant``
  message; DPO: ``input`` + ``preferred_output`` + ``non_preferred_output``; babbage/davinci:
  ``prompt`` + ``completion``), and a training file needs at least 10 examples.
* ``"auto"`` hyperparameters resolve to ``n_epochs`` 3, ``batch_size`` 1,
  ``learning_rate_multiplier`` 1.8 (and ``beta`` 0.1 for DPO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import tokens
from .errors import APIError
from .files import jsonl_objects
from .messages import invalid_type, invalid_value
from .state import SimState

BASE_PREFIXES = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-3.5-turbo", "o4-mini", "babbage-002", "davinci-002")
LEGACY = ("babbage-002", "davinci-002")
MIN_EXAMPLES = 10
AUTO = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8, "beta": 0.1}
METHODS = ("supervised", "dpo", "reinforcement")


@dataclass
class TrainingData:
    examples: int
    tokens: int


def check_base_model(state: SimState, model: str) -> None:
    if model in state.fine_tuned_models or (model.startswith(BASE_PREFIXES) and not model.startswith("ft:")):
        return
    raise APIError(400, f"Model {model} is not available for fine-tuning or does not exist.", param="model",
                   code="model_not_available")


def check_file(state: SimState, file_id: Any, param: str, model: str, method: str, minimum: int) -> TrainingData:
    if not isinstance(file_id, str):
        raise invalid_type(param, "a string", file_id)
    stored = state.files.get(file_id)
    if stored is None:
        raise APIError(400, f"invalid {param}: {file_id}", param=param)
    if stored.purpose != "fine-tune":
        raise APIError(400, f"File {file_id} has purpose '{stored.purpose}'; fine-tuning requires files uploaded "
                       "with purpose 'fine-tune'.", param=param)
    total = 0
    examples = jsonl_objects(stored.data)
    for number, example in enumerate(examples, start=1):
        problem = _example_problem(example, model, method)
        if problem is not None:
            raise APIError(400, f"The {param.replace('_', ' ')} {file_id} is invalid: example {number}: {problem}.",
                           param=param, code=f"invalid_{param}")
        total += _example_tokens(example)
    if len(examples) < minimum:
        raise APIError(400, f"Training file has {len(examples)} example(s), but must have at least {minimum} "
                       "examples", param=param, code="invalid_n_examples")
    return TrainingData(len(examples), total)


def _example_problem(example: dict[str, Any], model: str, method: str) -> str | None:
    if model in LEGACY:
        if not isinstance(example.get("prompt"), str) or not isinstance(example.get("completion"), str):
            return "expected string keys 'prompt' and 'completion'"
        return None
    if method == "dpo":
        for key in ("input", "preferred_output", "non_preferred_output"):
            if key not in example:
                return f"missing key '{key}'"
        return None
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return "missing key 'messages' (a non-empty list of messages)"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return "every message needs a 'role'"
    if method == "supervised" and not any(m.get("role") == "assistant" for m in messages):
        return "no message with role 'assistant'"
    return None


def _example_tokens(example: Any) -> int:
    if isinstance(example, str):
        return tokens.count(example)
    if isinstance(example, dict):
        return sum(_example_tokens(v) for k, v in example.items() if k not in ("weight", "role"))
    if isinstance(example, list):
        return sum(_example_tokens(v) for v in example)
    return 0


def resolve_method(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(method type, resolved hyperparameters) from ``method`` or the deprecated ``hyperparameters``."""
    method = body.get("method")
    kind = "supervised"
    raw: Any = body.get("hyperparameters") or {}
    if method is not None:
        if not isinstance(method, dict):
            raise invalid_type("method", "an object", method)
        kind = method.get("type")
        if kind not in METHODS:
            raise invalid_value("method.type", kind, METHODS)
        raw = (method.get(kind) or {}).get("hyperparameters") or raw
    if not isinstance(raw, dict):
        raise invalid_type("hyperparameters", "an object", raw)
    resolved: dict[str, Any] = {}
    names = ("batch_size", "learning_rate_multiplier", "n_epochs") + (("beta",) if kind == "dpo" else ())
    for name in names:
        value = raw.get(name, "auto")
        if value in ("auto", None):
            value = AUTO[name]
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise APIError(400, f"Invalid value for hyperparameters.{name}: expected 'auto' or a positive number.",
                           param=f"hyperparameters.{name}", code="invalid_value")
        elif name in ("n_epochs", "batch_size") and (not isinstance(value, int) or value > (50 if name == "n_epochs"
                                                                                              else 256)):
            raise APIError(400, f"Invalid value for hyperparameters.{name}: {value}.",
                           param=f"hyperparameters.{name}", code="invalid_value")
        resolved[name] = value
    return kind, resolved
