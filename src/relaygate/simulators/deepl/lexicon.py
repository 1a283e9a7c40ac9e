"""Deterministic fake translations, shared by the DeepL and Baidu Fanyi simulators.

A few phrases have real translations (so tests can assert an actual answer); any other text comes
back tagged with its target, ``[DE] original``. The source language is guessed from the script:
kana -> JA, hangul -> KO, other CJK -> ZH, anything else EN.
"""

from __future__ import annotations

import re

PHRASES: dict[str, dict[str, str]] = {
    "hello": {"ZH": "你好", "DE": "Hallo", "JA": "こんにちは", "FR": "Bonjour", "ES": "Hola", "KO": "안녕하세요",
              "EN": "Hello", "RU": "Привет", "IT": "Ciao", "PT": "Olá"},
    "good night": {"ZH": "晚安", "DE": "Gute Nacht", "JA": "おやすみなさい", "FR": "Bonne nuit", "ES": "Buenas noches",
                   "EN": "Good night"},
    "thank you": {"ZH": "谢谢", "DE": "Danke", "JA": "ありがとう", "FR": "Merci", "ES": "Gracias", "EN": "Thank you"},
    "你好": {"EN": "Hello", "DE": "Hallo", "JA": "こんにちは", "FR": "Bonjour", "ZH": "你好"},
    "谢谢": {"EN": "Thank you", "DE": "Danke", "JA": "ありがとう", "ZH": "谢谢"},
}
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def detect(text: str) -> str:
    if _KANA.search(text):
        return "JA"
    if _HANGUL.search(text):
        return "KO"
    if _CJK.search(text):
        return "ZH"
    return "EN"


def translate(text: str, target: str) -> str:
    """``target`` in upper case; its region (``EN-US``, ``ZH-HANS``) does not change the answer."""
    primary = target.upper().split("-", 1)[0]
    known = PHRASES.get(text.strip().strip("!.?。！").lower())
    if known is not None and primary in known:
        return known[primary]
    return f"[{target.upper()}] {text}"
