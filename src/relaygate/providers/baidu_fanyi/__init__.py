from relaygate.providers.baidu_fanyi.adapter import FanyiAdapter
from relaygate.providers.baidu_fanyi.translator import FanyiTranslator

__all__ = ["FanyiAdapter", "FanyiTranslator"]
