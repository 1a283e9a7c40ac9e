"""Azure OpenAI: OpenAI's wire format behind deployment URLs and an ``api-key`` header.

The deployment is named by the upstream model (after the channel's mapping), so an operator
maps public model names to deployment names with the ordinary model mapping.
"""

from __future__ import annotations

from urllib.parse import quote

from relaygate.providers.base import ChatRequest, UpstreamRequest
from relaygate.providers.openai.adapter import OpenAIAdapter, rewrite_body
from relaygate.state.snapshot import ChannelInfo

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    def build_chat(self, channel: ChannelInfo, key: str, req: ChatRequest) -> UpstreamRequest:
        version = channel.config.get("api_version") or DEFAULT_API_VERSION
        deployment = quote(req.upstream_model.replace(".", "") if channel.config.get("strip_dots")
                           else req.upstream_model, safe="")
        url = f"{channel.base_url}/openai/deployments/{deployment}{self.path}?api-version={version}"
        return UpstreamRequest(url=url, body=rewrite_body(req),
                               headers={"Content-Type": "application/json", "api-key": key})
