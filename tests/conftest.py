"""Shared fixtures: simulated upstreams in this process, a real gateway process per database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

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


@contextlib.contextmanager
def new_database(backend_url: str, folder: Path, prefix: str) -> Iterator[str]:
    """A new empty database on the same backend as ``backend_url`` (a file in ``folder`` for SQLite)."""
    if backend_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{folder / 'own.db'}"
        return
    url, name = create_pg_database(prefix)
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture()
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new empty database on the same backend, for tests that run their own gateway."""
    with new_database(database_url, tmp_path, "relaygate_own") as url:
        yield url


@pytest.fixture(scope="session")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("gateway"), database_url).start()
    yield gw
    code = gw.stop()
    assert code == 0, f"gateway exited with {code}:\n{gw.log()}"


@pytest.fixture(scope="session")
def aiohttp_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A second gateway whose upstream calls all go out on aiohttp (RELAYGATE_UPSTREAM_CLIENT),
    for the fault tests that run through both clients; SQLite, started on first use."""
    gw = Gateway(tmp_path_factory.mktemp("gateway-aiohttp"), upstream_client="aiohttp").start()
    yield gw
    assert gw.stop() == 0, gw.log()


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


# --- Chinese providers and translation (issue 4) ---------------------------------------------------

BAIDU_AK, BAIDU_SK = "baidu-ak-0001", "baidu-sk-0001"
BAIDU_KEY = f"{BAIDU_AK}|{BAIDU_SK}"


@pytest.fixture(scope="session")
def baidu_sim() -> Iterator[object]:
    from relaygate.simulators.baidu import BaiduSimulator

    with BaiduSimulator(credentials={BAIDU_AK: BAIDU_SK}).run_in_thread() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_issue4_sims(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("baidu_sim", "spark_sim", "zhipu_sim", "deepl_sim", "fanyi_sim"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()

SPARK_APP, SPARK_API_KEY, SPARK_SECRET = "app00001", "spark-api-key-0001", "spark-api-secret-0001"
SPARK_KEY = f"{SPARK_APP}|{SPARK_SECRET}|{SPARK_API_KEY}"  # APPID|APISecret|APIKey


@pytest.fixture(scope="session")
def spark_sim() -> Iterator[object]:
    from relaygate.simulators.spark import SparkSimulator

    with SparkSimulator(credentials={SPARK_API_KEY: (SPARK_APP, SPARK_SECRET)}).run_in_thread() as handle:
        yield handle

ZHIPU_KEY = "zhipu-id-0001.zhipu-secret-0001"


@pytest.fixture(scope="session")
def zhipu_sim() -> Iterator[object]:
    from relaygate.simulators.zhipu import ZhipuSimulator

    with ZhipuSimulator(api_keys={ZHIPU_KEY}).run_in_thread() as handle:
        yield handle

DEEPL_KEY = "deepl-key-0001"
FANYI_APPID, FANYI_SECRET = "20240001", "fanyi-secret-0001"
FANYI_KEY = f"{FANYI_APPID}|{FANYI_SECRET}"


@pytest.fixture(scope="session")
def deepl_sim() -> Iterator[object]:
    from relaygate.simulators.deepl import DeepLSimulator

    with DeepLSimulator(api_keys={DEEPL_KEY}).run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="session")
def fanyi_sim() -> Iterator[object]:
    from relaygate.simulators.baidu_fanyi import FanyiSimulator

    with FanyiSimulator(apps={FANYI_APPID: FANYI_SECRET}).run_in_thread() as handle:
        yield handle


# --- Stable Diffusion upstreams (issue 5) ------------------------------------------------------------

STABILITY_KEY = "sk-stability-sim-1"
SDWEBUI_AUTH = ("webui", "webui-pass")


@pytest.fixture(scope="session")
def stability_sim() -> Iterator[object]:
    from relaygate.simulators.stability import StabilitySimulator

    with StabilitySimulator(api_keys={STABILITY_KEY}).run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="session")
def sdwebui_sim() -> Iterator[object]:
    from relaygate.simulators.sdwebui import SDWebUISimulator

    with SDWebUISimulator(api_auth=[SDWEBUI_AUTH]).run_in_thread() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _reset_sd_sims(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("stability_sim", "sdwebui_sim"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
