"""A keyword classifier for end-to-end tests of routing and mail, where the test must
control the labels. The real classifier has its own tests; this stands in only where a
test is about what happens after classification."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guess:
    label: str
    confidence: float
    needs_review: bool = False


RULES = (  # (word in subject, type, priority, queue)
    ("caída", "incident", "critical", "network"),
    ("down", "incident", "critical", "network"),
    ("impresora", "incident", "medium", "hardware"),
    ("printer", "incident", "medium", "hardware"),
    ("acceso", "service_request", "low", "access"),
    ("gracias", "compliment", "low", "service_desk"),
)


class KeywordModel:
    version = "stub-1"
    heads = ("type", "priority", "queue")

    def predict(self, subjects: list[str], bodies: list[str]) -> list[dict[str, Guess]]:
        return [self._one(subject.lower()) for subject in subjects]

    def _one(self, subject: str) -> dict[str, Guess]:
        unsure = "no sé" in subject or "not sure" in subject
        for word, kind, priority, queue in RULES:
            if word in subject:
                confidence = 0.4 if unsure else 0.97
                return {"type": Guess(kind, confidence, unsure),
                        "priority": Guess(priority, confidence, unsure),
                        "queue": Guess(queue, confidence, unsure)}
        return {"type": Guess("inquiry", 0.3, True), "priority": Guess("low", 0.3, True),
                "queue": Guess("service_desk", 0.3, True)}
