"""Shared fixtures: simulated upstreams in this process, a real gateway process per database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from relaygate.simulators.openai import OpenAISimulator
from tests.gateway import Gateway
from tests.services import create_pg_database, drop_pg_database, postgres_available

SIM_KEY = "sk-sim-1"
SIM_KEYS = {"sk-sim-1", "sk-sim-2"}
IN_CI = os.environ.get("CI") == "true"


def _backends() -> list[str]:
    only = os.environ.get("RELAYGATE_TEST_DB")
    return [only] if only else ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'relaygate.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432: PostgreSQL runs of the suite are SKIPPED")
    url, name = create_pg_database("relaygate_e2e")
    yield url
    drop_pg_database(name)


@pytest.fixture()
def fresh_database_url(database_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new empty database on the same backend, for tests that run their own gateway."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        return
    url, name = create_pg_database("relaygate_own")
    yield url
    drop_pg_database(name)


@pytest.fixture(scope="session")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway"), database_url).start()
    yield gw
    code = gw.stop()
    assert code == 0, f"gateway exited with {code}:\n{gw.log()}"


@pytest.fixture(scope="session")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_keys=SIM_KEYS).run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="session")
def sim2() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_keys=SIM_KEYS).run_in_thread() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_sims(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("sim", "sim2"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


# --- Anthropic and Gemini upstreams (issue 3) ------------------------------------------------------

ANTHROPIC_KEY = "sk-ant-sim-1"
GEMINI_KEY = "AIza-sim-1"


@pytest.fixture(scope="session")
def anthropic_sim() -> Iterator[object]:
    from relaygate.simulators.anthropic import AnthropicSimulator

    with AnthropicSimulator(api_keys={ANTHROPIC_KEY}).run_in_thread() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_protocol_sims(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("anthropic_sim", "gemini_sim"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="session")
def gemini_sim() -> Iterator[object]:
    from relaygate.simulators.gemini import GeminiSimulator

    with GeminiSimulator(api_keys={GEMINI_KEY}).run_in_thread() as handle:
        yield handle
