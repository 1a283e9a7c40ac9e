"""Files and fine-tuning jobs through the gateway: ownership per user, routing to the owning channel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.gateway import Gateway, micro, unique_model
from tests.openapi_schemas import validate


def training_jsonl(examples: int = 10) -> bytes:
    lines = [orjson.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                        {"role": "assistant", "content": f"answer {i}"}]}) for i in range(examples)]
    return b"\n".join(lines) + b"\n"


def body_of(raw: Any) -> Any:
    return orjson.loads(raw.http_response.content)


def member(gateway: Gateway, group: str) -> tuple[dict, dict]:
    user = gateway.user("10.00", group=group)
    return user, gateway.key(user["id"])


@pytest.fixture()
def ft(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    """A group of its own (uploads go to the group's channels), one channel, two users in it."""
    base, group = unique_model("gpt-4o-mini"), unique_model("team")
    channel = gateway.channel(sim.base_url, [base], group=group)
    gateway.price(base, "1.00", "2.00", per_request="0.50")  # 0.50 per job created
    return gateway, base, channel, member(gateway, group), member(gateway, group)


def test_files_lifecycle(ft) -> None:  # type: ignore[no-untyped-def]
    gw, _base, channel, (_owner, key), _ = ft
    client = gw.client(key["key"])
    data = training_jsonl()
    raw = client.files.with_raw_response.create(file=("train.jsonl", data), purpose="fine-tune")
    created = raw.parse()
    validate("OpenAIFile", body_of(raw))
    assert created.bytes == len(data) and created.filename == "train.jsonl"
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == data
    page = client.files.with_raw_response.list()
    validate("ListFilesResponse", body_of(page))
    assert [f.id for f in page.parse().data] == [created.id]
    deleted = client.files.with_raw_response.delete(created.id)
    validate("DeleteFileResponse", body_of(deleted))
    assert deleted.parse().deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    empty = body_of(client.files.with_raw_response.list())
    validate("ListFilesResponse", empty, allow_null={"first_id", "last_id"})
    assert empty["data"] == [] and empty["has_more"] is False
    [rec] = gw.logs(key_id=key["id"])  # the upload is recorded, free; reads are not
    assert rec["endpoint"] == "files" and rec["channel_id"] == channel["id"] and micro(rec["cost"]) == 0


def test_files_listing_order_filter_paging(ft) -> None:  # type: ignore[no-untyped-def]
    gw, _base, _channel, (_owner, key), _ = ft
    client = gw.client(key["key"])
    ids = [client.files.create(file=(f"f{i}.txt", b"data"), purpose="user_data").id for i in range(3)]
    batch = client.files.create(file=("b.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
    assert [f.id for f in client.files.list(purpose="user_data")] == ids[::-1]
    first = client.files.list(purpose="user_data", order="asc", limit=2)
    assert [f.id for f in first.data] == ids[:2] and first.has_more
    assert [f.id for f in client.files.list(purpose="user_data", order="asc", limit=2)] == ids  # auto-paging
    assert [f.id for f in client.files.list(purpose="batch")] == [batch.id]
    r = httpx.get(f"{gw.url}/v1/files", params={"limit": "0"}, headers={"Authorization": f"Bearer {key['key']}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "limit"


def test_ownership_isolation_between_users(ft, sim) -> None:  # type: ignore[no-untyped-def]
    gw, base, _channel, (_owner, owner_key), (_other, other_key) = ft
    sim.knobs.ft_step_ms = 0
    mine, theirs = gw.client(owner_key["key"]), gw.client(other_key["key"])
    training = mine.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune")
    job = mine.fine_tuning.jobs.create(model=base, training_file=training.id)
    assert theirs.files.list().data == [] and theirs.fine_tuning.jobs.list().data == []
    for attempt in (lambda c, i: c.files.retrieve(i), lambda c, i: c.files.content(i),
                    lambda c, i: c.files.delete(i)):
        with pytest.raises(openai.NotFoundError) as foreign:
            attempt(theirs, training.id)
        with pytest.raises(openai.NotFoundError) as unknown:
            attempt(theirs, "file-doesnotexist")
        # another user's id is indistinguishable from one that never existed
        assert foreign.value.message.replace(training.id, "X") == unknown.value.message.replace("file-doesnotexist",
                                                                                                "X")
    for attempt in (lambda c, i: c.fine_tuning.jobs.retrieve(i), lambda c, i: c.fine_tuning.jobs.cancel(i),
                    lambda c, i: c.fine_tuning.jobs.list_events(i),
                    lambda c, i: c.fine_tuning.jobs.checkpoints.list(i)):
        with pytest.raises(openai.NotFoundError):
            attempt(theirs, job.id)
        with pytest.raises(openai.NotFoundError):
            attempt(theirs, "ftjob-doesnotexist")
    with pytest.raises(openai.BadRequestError) as borrowed:
        theirs.fine_tuning.jobs.create(model=base, training_file=training.id)
    assert borrowed.value.param == "training_file"
    # nothing of the owner's was touched
    assert mine.files.retrieve(training.id).id == training.id
    assert mine.fine_tuning.jobs.retrieve(job.id).status != "cancelled"
    assert [j.id for j in mine.fine_tuning.jobs.list().data] == [job.id]


def test_fine_tuning_to_success_then_the_model_is_the_owners(ft, gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    gw, base, channel, (owner, key), _ = ft
    sim.knobs.ft_step_ms = 0  # one step per retrieve
    client = gw.client(key["key"])
    training = client.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune").id
    raw = client.fine_tuning.jobs.with_raw_response.create(model=base, training_file=training, suffix="demo",
                                                           seed=42, metadata={"team": "relay"})
    validate("FineTuningJob", body_of(raw))
    job = raw.parse()
    assert sim.requests[-1].json["model"] == base and job.status == "validating_files"
    statuses = []
    for _ in range(5):
        raw = client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
        validate("FineTuningJob", body_of(raw))
        statuses.append(raw.parse().status)
    assert statuses == ["queued", "running", "running", "running", "succeeded"]
    done = raw.parse()
    ft_model = done.fine_tuned_model
    assert ft_model.startswith(f"ft:{base}:simulated:demo:")
    assert ft_model in [m.id for m in client.models.list()]
    reply = client.chat.completions.create(model=ft_model, messages=[{"role": "user", "content": "hi"}])
    assert reply.model == ft_model and sim.requests[-1].json["model"] == ft_model
    chat_record = next(r for r in gw.logs(key_id=key["id"]) if r["model"] == ft_model)
    assert chat_record["channel_id"] == channel["id"]
    assert micro(chat_record["cost"]) == -(-(reply.usage.prompt_tokens * 1_000_000 + reply.usage.completion_tokens
                                            * 2_000_000) // 1_000_000) + 500_000  # the base model's price
    csv = client.files.content(done.result_files[0]).text  # the result file is the owner's too
    assert csv.startswith("step,train_loss")
    events = client.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=50)
    validate("ListFineTuningJobEventsResponse", body_of(events))
    assert events.parse().data[0].message == "The job has successfully completed"
    older = client.fine_tuning.jobs.list_events(job.id, limit=2, after=events.parse().data[1].id)
    assert len(older.data) == 2 and older.has_more
    checkpoints = client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)
    validate("ListFineTuningJobCheckpointsResponse", body_of(checkpoints))
    assert [c.step_number for c in checkpoints.parse().data] == [30, 20, 10]
    listing = client.fine_tuning.jobs.with_raw_response.list()
    validate("ListPaginatedFineTuningJobsResponse", body_of(listing))
    assert [(j.id, j.status) for j in listing.parse().data] == [(job.id, "succeeded")]
    assert client.fine_tuning.jobs.list(metadata={"team": "other"}).data == []
    job_record = next(r for r in gw.logs(key_id=key["id"]) if r["endpoint"] == "fine_tuning.jobs")
    assert micro(job_record["cost"]) == 500_000 and job_record["model"] == base
    # another user, of the same group or another, never sees nor reaches the fine-tuned model
    for group in (owner["group"], "elsewhere"):
        stranger = gw.client(member(gateway, group)[1]["key"])
        assert ft_model not in [m.id for m in stranger.models.list()]
        with pytest.raises(openai.NotFoundError):
            stranger.chat.completions.create(model=ft_model, messages=[{"role": "user", "content": "hi"}])
    outsider = gw.client(member(gateway, "elsewhere")[1]["key"])
    assert ft_model not in [m.id for m in outsider.models.list()]
    with pytest.raises(openai.NotFoundError):
        outsider.chat.completions.create(model=ft_model, messages=[{"role": "user", "content": "hi"}])
    assert micro(gateway.get_user(owner["id"])["balance"]) == 10_000_000 - sum(
        micro(r["cost"]) for r in gw.logs(key_id=key["id"]))


def test_cancel_failure_and_errors(ft, sim) -> None:  # type: ignore[no-untyped-def]
    gw, base, _channel, (_owner, key), _ = ft
    sim.knobs.ft_step_ms = 0
    client = gw.client(key["key"])
    training = client.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model=base, training_file=training)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):  # the upstream's 400, passed on
        client.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.list().data[0].status == "cancelled"
    with pytest.raises(openai.BadRequestError) as unrouted:
        client.fine_tuning.jobs.create(model=unique_model("gpt-4o"), training_file=training)
    assert unrouted.value.param == "model"
    with pytest.raises(openai.BadRequestError) as missing:
        client.fine_tuning.jobs.create(model=base, training_file="file-nope")
    assert missing.value.param == "training_file"
    with pytest.raises(openai.BadRequestError, match="at least 10 examples"):  # validated by the upstream
        small = client.files.create(file=("s.jsonl", training_jsonl(3)), purpose="fine-tune").id
        client.fine_tuning.jobs.create(model=base, training_file=small)
    auth = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.delete(f"{gw.url}/v1/fine_tuning/jobs/{job.id}", headers=auth).status_code == 405
    assert httpx.get(f"{gw.url}/v1/fine_tuning/jobs/{job.id}/nothing", headers=auth).status_code == 404
    assert httpx.put(f"{gw.url}/v1/files", headers=auth).status_code == 405
    assert httpx.get(f"{gw.url}/v1/files/x/y", headers=auth).status_code == 404
    assert httpx.get(f"{gw.url}/v1/files").status_code == 401
    fees = [micro(r["cost"]) for r in gw.logs(key_id=key["id"]) if r["endpoint"] == "fine_tuning.jobs"]
    assert sorted(fees) == [0, 0, 0, 500_000]  # only the job that was created pays


def test_upload_model_hint_picks_a_channel_that_can_fine_tune(gateway: Gateway, sim, sim2) -> None:  # type: ignore[no-untyped-def]
    base, other, group = unique_model("gpt-4o-mini"), unique_model("gpt-4o"), unique_model("team")
    tuning = gateway.channel(sim.base_url, [base], group=group)
    gateway.channel(sim2.base_url, [other], group=group, priority=10)  # preferred when nothing else says
    gateway.price(base, "1.00", "2.00")
    _user, key = member(gateway, group)
    client = gateway.client(key["key"])
    stray = client.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune")
    assert sim2.requests[-1].path == "/v1/files"
    with pytest.raises(openai.BadRequestError) as wrong_channel:
        client.fine_tuning.jobs.create(model=base, training_file=stray.id)
    assert wrong_channel.value.code == "model_not_available"
    placed = client.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune", extra_body={"model": base})
    assert "model" not in sim.requests[-1].form["fields"]  # the hint is the gateway's, not sent on
    job = client.fine_tuning.jobs.create(model=base, training_file=placed.id)
    assert job.status == "validating_files" and sim.requests[-1].path == "/v1/fine_tuning/jobs"
    uploads = [r for r in gateway.logs(key_id=key["id"]) if r["endpoint"] == "files"]
    assert uploads[0]["channel_id"] == tuning["id"]
    with pytest.raises(openai.NotFoundError) as nowhere:  # the caller's mistake: 404, as for any unknown model
        client.files.create(file=("t.jsonl", b"{}"), purpose="fine-tune", extra_body={"model": "unknown-model"})
    assert nowhere.value.code == "model_not_found"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_20_mb_upload_is_not_held_in_memory(ft, sim) -> None:  # type: ignore[no-untyped-def]
    gw, _base, _channel, (_owner, key), _ = ft
    assert gw.proc is not None
    client = gw.client(key["key"], timeout=60)
    client.files.create(file=("warm.bin", os.urandom(2_000_000)), purpose="user_data")  # code paths, pools
    before = rss_kib(gw.proc.pid)
    blob = os.urandom(20 * 1024 * 1024)
    created = client.files.create(file=("big.bin", blob), purpose="user_data")
    after = rss_kib(gw.proc.pid)
    assert created.bytes == len(blob) and sim.requests[-1].form["files"][0]["size"] == len(blob)
    assert after - before < 8 * 1024, f"RSS grew by {(after - before) // 1024} MiB for a 20 MiB upload"
    assert not list((gw.data_dir / "tmp").glob("*")), "the upload spool was not removed"
