from relaygate.providers.baidu.adapter import BaiduAdapter

__all__ = ["BaiduAdapter"]
