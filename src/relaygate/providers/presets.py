"""Channel presets: default base URLs and model lists, so an operator only pastes a key.

Two kinds of rows share the table:

* OpenAI-compatible providers (``adapter == "openai"``): each is a channel *type* of its own
  (``"type": "deepseek"``) served by the one :class:`~relaygate.providers.openai.OpenAIAdapter`
  (pass-through, unknown fields such as DeepSeek's ``reasoning_content`` included). The type only
  picks defaults; nothing else differs from an ``openai`` channel.
* Defaults for the protocols with their own adapter (``baidu``, ``spark``, ``zhipu``, ``deepl``,
  ``baidu-fanyi``).

When a channel is created without ``base_url`` or ``models``, the preset fills them
(:func:`relaygate.store.repos.channel_preset_defaults`). Model lists are a starting point for the
operator (what the provider documents at the time of writing), not a restriction: any model name
the upstream knows can be added, or mapped with ``model_mapping``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    adapter: str  # the registry type whose adapter speaks this provider's protocol
    base_url: str
    models: tuple[str, ...]
    notes: str = ""


PRESETS: dict[str, Preset] = {
    # --- OpenAI-compatible providers: the openai adapter, defaults only ---------------------------
    "deepseek": Preset("openai", "https://api.deepseek.com/v1", ("deepseek-chat", "deepseek-reasoner"),
                       "deepseek-reasoner answers with reasoning_content (passed through); usage adds "
                       "prompt_cache_hit_tokens/prompt_cache_miss_tokens"),
    "moonshot": Preset("openai", "https://api.moonshot.cn/v1",
                       ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "kimi-latest"),
                       "international accounts: https://api.moonshot.ai/v1; temperature range [0, 1]"),
    "qwen": Preset("openai", "https://dashscope.aliyuncs.com/compatible-mode/v1",
                   ("qwen-turbo", "qwen-plus", "qwen-max", "qwen-long", "qwen-vl-plus", "qwen-vl-max"),
                   "DashScope compatible mode; international: https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    "doubao": Preset("openai", "https://ark.cn-beijing.volces.com/api/v3",
                     ("doubao-pro-32k", "doubao-pro-128k", "doubao-lite-32k", "doubao-lite-128k"),
                     "Volcengine Ark: map public names to your endpoint ids (ep-...) with model_mapping"),
    "minimax": Preset("openai", "https://api.minimax.chat/v1",
                      ("abab6.5s-chat", "abab6.5g-chat", "MiniMax-Text-01", "MiniMax-M1"),
                      "newer domain https://api.minimaxi.com/v1, international https://api.minimax.io/v1"),
    "01ai": Preset("openai", "https://api.lingyiwanwu.com/v1",
                   ("yi-lightning", "yi-large", "yi-medium", "yi-vision"), "01.AI (Lingyiwanwu)"),
    "baichuan": Preset("openai", "https://api.baichuan-ai.com/v1",
                       ("Baichuan4", "Baichuan3-Turbo", "Baichuan3-Turbo-128k", "Baichuan2-Turbo")),
    "siliconflow": Preset("openai", "https://api.siliconflow.cn/v1",
                          ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "Qwen/Qwen2.5-72B-Instruct",
                           "THUDM/glm-4-9b-chat")),
    "openrouter": Preset("openai", "https://openrouter.ai/api/v1",
                         ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "google/gemini-2.0-flash-001",
                          "deepseek/deepseek-chat", "meta-llama/llama-3.1-70b-instruct")),
    "groq": Preset("openai", "https://api.groq.com/openai/v1",
                   ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "gemma2-9b-it")),
    "mistral": Preset("openai", "https://api.mistral.ai/v1",
                      ("mistral-large-latest", "mistral-small-latest", "open-mistral-nemo", "codestral-latest")),
    "ollama": Preset("openai", "http://localhost:11434/v1", ("llama3.1", "qwen2.5", "mistral"),
                     "local; no key needed (leave keys empty)"),
    "vllm": Preset("openai", "http://localhost:8000/v1", (),
                   "local; list the model names the server was started with"),
    "baidu-v2": Preset("openai", "https://qianfan.baidubce.com/v2",
                       ("ernie-4.0-8k", "ernie-4.0-turbo-8k", "ernie-3.5-8k", "ernie-speed-8k", "ernie-lite-8k",
                        "deepseek-v3", "deepseek-r1"),
                       "Qianfan v2 (OpenAI-compatible): the key is a Qianfan API key (bce-v3/ALTAK-...)"),
    "spark-http": Preset("openai", "https://spark-api-open.xf-yun.com/v1",
                         ("lite", "generalv3", "pro-128k", "generalv3.5", "max-32k", "4.0Ultra"),
                         "iFlytek Spark HTTP API: the key is the model's APIPassword"),
    # --- protocols with their own adapter: defaults only ----------------------------------------
    "baidu": Preset("baidu", "https://aip.baidubce.com",
                    ("ernie-bot", "ernie-bot-4", "ernie-bot-turbo", "ernie-bot-8k", "ernie-4.0-8k", "ernie-3.5-8k",
                     "ernie-speed-8k", "ernie-speed-128k", "ernie-lite-8k", "ernie-tiny-8k"),
                    "Qianfan v1; key: API_KEY|SECRET_KEY"),
    "spark": Preset("spark", "https://spark-api.xf-yun.com",
                    ("spark-v1.5", "spark-v2.0", "spark-v3.0", "spark-v3.5", "spark-4.0-ultra", "spark-lite",
                     "spark-pro", "spark-pro-128k", "spark-max", "spark-max-32k"),
                    "WebSocket API; key: APPID|APISecret|APIKey"),
    "zhipu": Preset("zhipu", "https://open.bigmodel.cn/api/paas/v4",
                    ("glm-4-plus", "glm-4-air", "glm-4-flash", "glm-4-long", "glm-4v", "glm-4.5", "glm-4.5-air"),
                    "key: <id>.<secret> (sent as a JWT); international: https://api.z.ai/api/paas/v4"),
    "deepl": Preset("deepl", "https://api.deepl.com",
                    ("deepl", "deepl-zh", "deepl-en", "deepl-ja", "deepl-ko", "deepl-de", "deepl-fr", "deepl-es",
                     "deepl-it", "deepl-pt", "deepl-ru"),
                    "free keys (ending in :fx) go to https://api-free.deepl.com automatically"),
    "baidu-fanyi": Preset("baidu-fanyi", "https://fanyi-api.baidu.com",
                          ("baidu-fanyi", "baidu-fanyi-zh", "baidu-fanyi-en", "baidu-fanyi-ja", "baidu-fanyi-ko",
                           "baidu-fanyi-de", "baidu-fanyi-fr", "baidu-fanyi-es", "baidu-fanyi-ru"),
                          "key: APPID|SECRET_KEY"),
}

OPENAI_COMPATIBLE: frozenset[str] = frozenset(name for name, p in PRESETS.items() if p.adapter == "openai")


def preset_for(channel_type: str) -> Preset | None:
    return PRESETS.get(channel_type)
