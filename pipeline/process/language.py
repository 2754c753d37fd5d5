"""Language detection with lingua, limited to the languages the desk answers in.

Limiting the candidates makes short messages far more reliable ("gracias!" is not
Galician) and keeps detection fast.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = {"es": Language.SPANISH, "en": Language.ENGLISH}
UNKNOWN = "und"
SAMPLE_CHARS = 2000


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*SUPPORTED.values()).build()


def detect(text: str) -> str:
    sample = text[:SAMPLE_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return UNKNOWN
    found = _detector().detect_language_of(sample)
    if found is None:
        return UNKNOWN
    return found.iso_code_639_1.name.lower()
