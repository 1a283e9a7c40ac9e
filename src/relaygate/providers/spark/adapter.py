"""Channel type ``spark``: OpenAI chat over iFlytek Spark's WebSocket API.

Key: ``APPID|APISecret|APIKey``. Base URL: ``https://spark-api.xf-yun.com`` (the default; http(s)
is turned into ws(s)). ``build_chat`` gives the unsigned URL of the model's version and the
request frame (:mod:`.request`); the adapter is its own transport: :meth:`SparkAdapter.send`
signs the URL with the current date and runs the WebSocket (:mod:`.transport`), one per request.
For Spark's HTTP OpenAI-compatible API use the ``spark-http`` preset instead.
"""

from __future__ import annotations

import aiohttp
import orjson

from relaygate.providers.baidu.response import legacy_caller
from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamRequest, Usage
from relaygate.providers.spark.auth import signed_url, split_key
from relaygate.providers.spark.errors import OUTPUT_FILTERED, frame_code, frame_message, parse_error, spark_error
from relaygate.providers.spark.frames import SparkStreamRelay, answer_text, is_last, to_openai
from relaygate.providers.spark.request import build_frame, version_of, ws_url
from relaygate.providers.spark.transport import WSAnswer, open_answer
from relaygate.state.snapshot import ChannelInfo


def malformed(why: str) -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, f"The upstream returned a malformed answer: {why}.", "upstream_error",
                                         "bad_upstream_response", retryable=True, channel_fault=True))


class SparkAdapter:
    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        app_id, _, _ = split_key(key)
        path, domain = version_of(req.upstream_model, channel.config)
        return UpstreamRequest(url=ws_url(channel.base_url, path), method="GET",
                               body=orjson.dumps(build_frame(req, app_id, domain)))

    async def send(self, client: aiohttp.ClientSession, channel: ChannelInfo, key: str, up: UpstreamRequest,
                   req: ChatRequest, limits: aiohttp.ClientTimeout) -> WSAnswer:
        _, api_secret, api_key = split_key(key)
        return await open_answer(client, signed_url(up.url, api_key, api_secret), up.body, limits)

    def parse_chat(self, req: ChatRequest, body: bytes) -> tuple[bytes, Usage | None]:
        try:
            frames = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed("not JSON") from None
        if not isinstance(frames, list) or not frames or not all(isinstance(f, dict) for f in frames):
            raise malformed("no frames")
        last = frames[-1]
        code = frame_code(last)
        if code and code != OUTPUT_FILTERED:
            raise UpstreamFailure(spark_error(code, frame_message(last)))
        if not is_last(last):
            raise malformed("the answer has no last frame")
        out, usage = to_openai(frames, req.upstream_model, legacy_caller(req.body))
        return orjson.dumps(out), usage

    def completion_text(self, body: bytes) -> str:
        return answer_text(orjson.loads(body))

    def stream_relay(self, req: ChatRequest) -> SparkStreamRelay:
        return SparkStreamRelay(req.upstream_model, legacy_caller(req.body), req.wants_usage)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error(status, body)
