"""Generate the multi-label demo corpus: support tickets with one to three intents.

Each ticket joins one to three sentences of the single-label demo corpus
(``support_train.jsonl`` / ``support_test.jsonl``, see README.md), each of another
intent, with a connecting word now and then ("Also,", "Separately,"). A ticket's labels are
its sentences' intents. Training tickets are built only from training sentences and test
tickets only from test sentences, so no sentence is shared between the splits.

Outputs (next to this script): ``support_multi_train.jsonl`` and ``support_multi_test.jsonl``,
one ``{"text": ..., "labels": [...]}`` object a line. Standard library only, fixed seed,
deterministic::

    python data/demo/make_multilabel_corpus.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 2014
HERE = Path(__file__).resolve().parent
SPLITS = {  # output: (source, tickets)
    "support_multi_train.jsonl": ("support_train.jsonl", 1200),
    "support_multi_test.jsonl": ("support_test.jsonl", 400),
}
INTENTS_PER_TICKET = (1, 1, 2, 2, 3)  # drawn uniformly: 40% one, 40% two, 20% three
CONNECTORS = (
    "",
    "",
    "",
    "Also,",
    "Separately,",
    "And",
    "On top of that,",
    "Plus,",
    "One more thing:",
)


def read_sentences(path: Path) -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_intent.setdefault(record["label"], []).append(record["text"])
    return by_intent


def join(sentences: list[str], rng: random.Random) -> str:
    parts = [sentences[0]]
    for sentence in sentences[1:]:
        connector = rng.choice(CONNECTORS)
        if connector and sentence[:1].isupper() and not sentence[1:2].isupper():
            sentence = sentence[0].lower() + sentence[1:]
        parts.append(f"{connector} {sentence}" if connector else sentence)
    return " ".join(parts)


def tickets(by_intent: dict[str, list[str]], count: int, rng: random.Random) -> list[dict]:
    intents = sorted(by_intent)
    out, seen = [], set()
    while len(out) < count:
        chosen = rng.sample(intents, rng.choice(INTENTS_PER_TICKET))
        sentences = [rng.choice(by_intent[intent]) for intent in chosen]
        text = join(sentences, rng)
        if text in seen:
            continue
        seen.add(text)
        out.append({"text": text, "labels": sorted(chosen)})
    return out


def main() -> None:
    rng = random.Random(SEED)
    for output, (source, count) in SPLITS.items():
        rows = tickets(read_sentences(HERE / source), count, rng)
        with (HERE / output).open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        print(f"{output}: {len(rows)} tickets")


if __name__ == "__main__":
    main()
