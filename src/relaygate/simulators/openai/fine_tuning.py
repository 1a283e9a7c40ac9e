"""Fine-tuning jobs: create, list, retrieve, cancel, events, checkpoints, and the job state machine.

A job moves ``validating_files`` -> ``queued`` -> ``running`` -> (one step per epoch) ->
``succeeded``: ``2 + n_epochs`` steps in all. Steps happen on time, one every ``ft_step_ms`` ms since
creation (evaluated lazily whenever the job is looked at), or, with ``ft_step_ms = 0``, one per
``GET /fine_tuning/jobs/{id}``. Each epoch adds a ``metrics`` event and a checkpoint
(``step_number = epoch * ceil(examples / batch_size)``). On success ``fine_tuned_model`` is
``ft:<base>:simulated:<suffix>:<8 chars>``, a ``step_metrics.csv`` result file (purpose
``fine-tune-results``) is stored, ``trained_tokens = training tokens * n_epochs`` and the model is
served by ``/v1/chat/completions`` and listed by ``/v1/models``. With the ``ft_fail`` knob set at
creation the job fails when training starts (``error.code`` ``server_error``). Cancelling works in
the three non-terminal states; a terminal job gives 400. Lists are newest first with ``after`` /
``limit`` cursors (defaults 20 jobs, 20 events, 10 checkpoints).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import ft_data, params
from .errors import APIError
from .files import add_file, new_id
from .plumbing import ORG_ID, api, ok, read_json_object
from .state import SimState

ORG_SLUG = "simulated"
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Job:
    id: str
    model: str
    created: float
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    method: str
    hyperparameters: dict[str, Any]
    metadata: dict[str, str] | None
    data: ft_data.TrainingData
    ft_name: str
    fail: bool
    status: str = "validating_files"
    steps: int = 0
    finished_at: int | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return int(self.hyperparameters["n_epochs"])

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.data.examples / int(self.hyperparameters["batch_size"])))

    def object(self, step_ms: int) -> dict[str, Any]:
        estimated = None
        if self.status not in TERMINAL and step_ms > 0:
            estimated = int(self.created + (2 + self.epochs) * step_ms / 1000) + 1
        return {
            "object": "fine_tuning.job", "id": self.id, "model": self.model, "created_at": int(self.created),
            "finished_at": self.finished_at, "fine_tuned_model": self.fine_tuned_model,
            "organization_id": ORG_ID, "result_files": list(self.result_files), "status": self.status,
            "validation_file": self.validation_file, "training_file": self.training_file,
            "hyperparameters": dict(self.hyperparameters), "trained_tokens": self.trained_tokens,
            "error": self.error, "user_provided_suffix": self.suffix, "seed": self.seed,
            "estimated_finish": estimated, "integrations": [], "metadata": self.metadata,
            "method": {"type": self.method, self.method: {"hyperparameters": dict(self.hyperparameters)}},
        }

    def event(self, message: str, at: float, level: str = "info", kind: str = "message",
              data: dict[str, Any] | None = None) -> None:
        self.events.append({"object": "fine_tuning.job.event", "id": new_id("ftevent-", 24), "created_at": int(at),
                            "level": level, "message": message, "type": kind, "data": data or {}})


@api(faults=True)
async def create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await read_json_object(request)
    model = params.string(body, "model", required=True) or ""
    ft_data.check_base_model(state, model)
    method, hyper = ft_data.resolve_method(body)
    training = ft_data.check_file(state, params.require(body, "training_file"), "training_file", model, method,
                                  ft_data.MIN_EXAMPLES)
    validation = body.get("validation_file")
    if validation is not None:
        ft_data.check_file(state, validation, "validation_file", model, method, 1)
    suffix = params.string(body, "suffix", max_len=64)
    seed = params.integer(body, "seed", 0, 2**31 - 1)
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16
                                 or not all(isinstance(v, str) for v in metadata.values())):
        raise APIError(400, "Invalid 'metadata': expected an object with at most 16 string values.",
                       param="metadata", code="invalid_value")
    job_id = new_id("ftjob-", 24)
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big") % 2**31
    base = model.split(":")[1] if model.startswith("ft:") else model
    ft_name = f"ft:{base}:{ORG_SLUG}:{suffix or ''}:{new_id('', 8)}"
    now = time.time()
    job = Job(job_id, model, now, body["training_file"], validation, suffix, seed, method, hyper, metadata,
              training, ft_name, state.knobs.ft_fail)
    job.event(f"Validating training file: {job.training_file}"
              + (f" and validation file: {validation}" if validation else ""), now)
    job.event(f"Created fine-tuning job: {job_id}", now)
    state.jobs[job_id] = job
    return ok(state, job.object(state.knobs.ft_step_ms))


@api()
async def list_jobs(request: web.Request, state: SimState) -> web.StreamResponse:
    wanted = {k[len("metadata[") : -1]: v for k, v in request.query.items() if k.startswith("metadata[")}
    jobs = []
    for job in reversed(list(state.jobs.values())):
        advance(state, job, poll=False)
        if all((job.metadata or {}).get(k) == v for k, v in wanted.items()):
            jobs.append(job)
    page, has_more = _page([j.id for j in jobs], jobs, request, 20)
    return ok(state, {"object": "list", "data": [j.object(state.knobs.ft_step_ms) for j in page],
                      "has_more": has_more})


@api()
async def retrieve(request: web.Request, state: SimState) -> web.StreamResponse:
    job = get_job(state, request.match_info["job_id"])
    advance(state, job, poll=True)
    return ok(state, job.object(state.knobs.ft_step_ms))


@api(faults=True)
async def cancel(request: web.Request, state: SimState) -> web.StreamResponse:
    job = get_job(state, request.match_info["job_id"])
    advance(state, job, poll=False)
    if job.status in TERMINAL:
        raise APIError(400, f"Job {job.id} is already {job.status} and cannot be cancelled.")
    job.status = "cancelled"
    job.event("Fine-tuning job cancelled", time.time())
    return ok(state, job.object(state.knobs.ft_step_ms))


@api()
async def list_events(request: web.Request, state: SimState) -> web.StreamResponse:
    job = get_job(state, request.match_info["job_id"])
    advance(state, job, poll=False)
    events = list(reversed(job.events))
    page, has_more = _page([e["id"] for e in events], events, request, 20)
    return ok(state, {"object": "list", "data": page, "has_more": has_more})


@api()
async def list_checkpoints(request: web.Request, state: SimState) -> web.StreamResponse:
    job = get_job(state, request.match_info["job_id"])
    advance(state, job, poll=False)
    checkpoints = list(reversed(job.checkpoints))
    page, has_more = _page([c["id"] for c in checkpoints], checkpoints, request, 10)
    return ok(state, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                      "last_id": page[-1]["id"] if page else None, "has_more": has_more})


def get_job(state: SimState, job_id: str) -> Job:
    job = state.jobs.get(job_id)
    if job is None:
        raise APIError(404, f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id")
    return job


def _page(ids: list[str], items: list[Any], request: web.Request, default_limit: int) -> tuple[list[Any], bool]:
    after = request.query.get("after")
    raw_limit = request.query.get("limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else default_limit
    except ValueError:
        raise APIError(400, "Invalid type for 'limit': expected an integer, but got a string instead.",
                       param="limit", code="invalid_type") from None
    params.in_range("limit", limit, 1, 100, "integer")
    if after is not None:
        items = items[ids.index(after) + 1 :] if after in ids else []
    return items[:limit], len(items) > limit


# --- state machine ---------------------------------------------------------------------------


def advance(state: SimState, job: Job, poll: bool) -> None:
    """Apply the steps that are due: by elapsed time, or one per poll when ``ft_step_ms`` is 0."""
    step_ms = state.knobs.ft_step_ms
    if step_ms > 0:
        due = int((time.time() - job.created) * 1000 // step_ms)
        while job.steps < due and job.status not in TERMINAL:
            _step(state, job, job.created + (job.steps + 1) * step_ms / 1000)
    elif poll and job.status not in TERMINAL:
        _step(state, job, time.time())


def _step(state: SimState, job: Job, at: float) -> None:
    job.steps += 1
    if job.steps == 1:
        job.status = "queued"
        job.event("Files validated, moving job to queued state", at)
        return
    if job.steps == 2:
        job.status = "running"
        job.event("Fine-tuning job started", at)
        if job.fail:
            job.status = "failed"
            job.finished_at = int(at)
            job.error = {"code": "server_error", "message": "The job failed due to an internal error.",
                         "param": None}
            job.event("The job failed due to an internal error.", at, level="error")
        return
    epoch = job.steps - 2
    total_steps = job.epochs * job.steps_per_epoch
    step = epoch * job.steps_per_epoch
    loss = round(1.6 / (1 + epoch), 4)
    accuracy = round(min(0.99, 0.55 + 0.12 * epoch), 4)
    metrics = {"step": step, "train_loss": loss, "train_mean_token_accuracy": accuracy, "total_steps": total_steps}
    job.event(f"Step {step}/{total_steps}: training loss={loss:.4f}", at, kind="metrics", data=metrics)
    job.checkpoints.append({
        "object": "fine_tuning.job.checkpoint", "id": new_id("ftckpt_", 24), "created_at": int(at),
        "fine_tuned_model_checkpoint": f"{job.ft_name}:ckpt-step-{step}", "step_number": step,
        "metrics": {"step": step, "train_loss": loss, "train_mean_token_accuracy": accuracy,
                    "valid_loss": round(loss * 1.1, 4), "valid_mean_token_accuracy": round(accuracy * 0.97, 4),
                    "full_valid_loss": round(loss * 1.12, 4),
                    "full_valid_mean_token_accuracy": round(accuracy * 0.96, 4)},
        "fine_tuning_job_id": job.id,
    })
    job.event(f"Checkpoint created at step {step}", at)
    if epoch < job.epochs:
        return
    job.status = "succeeded"
    job.finished_at = int(at)
    job.fine_tuned_model = job.ft_name
    job.trained_tokens = job.data.tokens * job.epochs
    rows = "".join(f"{c['step_number']},{c['metrics']['train_loss']},{c['metrics']['train_mean_token_accuracy']},"
                   f"{c['metrics']['valid_loss']},{c['metrics']['valid_mean_token_accuracy']}\n"
                   for c in job.checkpoints)
    csv = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n" + rows
    job.result_files = [add_file(state, "step_metrics.csv", "fine-tune-results", csv.encode()).id]
    state.fine_tuned_models[job.ft_name] = int(at)
    job.event(f"New fine-tuned model created: {job.ft_name}", at)
    job.event("The job has successfully completed", at)
