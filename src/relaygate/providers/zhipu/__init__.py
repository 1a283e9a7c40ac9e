from relaygate.providers.zhipu.adapter import ZhipuAdapter

__all__ = ["ZhipuAdapter"]
