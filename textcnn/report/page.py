"""The evaluation report: one HTML page and its PNG figures, from a stored evaluation record.

``Report.write(directory)`` writes ``index.html`` with its figures under ``figures/`` (the
``--report DIR`` of the CLI); ``Report.inline()`` is the same page with the figures as data
URIs, one self-contained response for the service. Every number in the page is an element
with a ``data-key`` attribute, so tests (and scripts) can read them back.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textcnn.engine.bundle import Bundle
from textcnn.errors import TextCNNError
from textcnn.modalities.evaluation import EVALUATION_KEY

PAGE = "index.html"
FIGURES = "figures"
SPLIT_NOTE = {
    "test": "the test set given at training time",
    "dev": "the dev split, which also chose the kept epoch (an optimistic estimate)",
    "data": "the data given to the command",
}
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:0 auto;padding:1rem;
color:#1a1a1a;background:#fff}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.facts{color:#444}.headline{display:flex;gap:2rem;flex-wrap:wrap}
.headline div{font-size:1.1rem}.headline b{font-size:1.6rem;display:block}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;text-align:right;
border-bottom:1px solid #eee}th:first-child,td:first-child{text-align:left}
img{max-width:100%;height:auto}.note{color:#555;font-style:italic}
mark{border-radius:3px;padding:0 2px;color:#1a1a1a}.mistake{margin:.8rem 0}
.tokens{font-family:ui-monospace,monospace}.where{color:#666;font-size:.85rem}
"""


class ReportError(TextCNNError):
    """A report that cannot be made: no evaluation to draw it from."""


def _num(key: str, value: float, digits: int = 4) -> str:
    return f'<span data-key="{html.escape(key)}">{value:.{digits}f}</span>'


def _int(key: str, value: int) -> str:
    return f'<span data-key="{html.escape(key)}">{value}</span>'


def _before_temperature(calibration: dict[str, Any]) -> list[str]:
    """The headline's calibration error before temperature scaling, in records that keep it
    (those stored before temperatures have none)."""
    if "ece_before" not in calibration:
        return []
    return [
        "<div>before temperature scaling"
        f"<b>{_num('ece_before', calibration['ece_before'])}</b>"
        f"T = {_num('temperature', calibration['temperature'], 3)}</div>"
    ]


def _escape(value: Any) -> str:
    return html.escape(str(value))


def highlighted(explanation: dict[str, Any]) -> str:
    """The tokens with each one's strongest covering n-gram marked, tinted by its share of
    the largest contribution; hovering shows the n-gram and its contribution."""
    tokens = explanation["tokens"]
    spans = [n for n in explanation["ngrams"] if n["contribution"] > 0 and n["end"] > n["start"]]
    top = max((n["contribution"] for n in spans), default=1.0)
    best: list[dict[str, Any] | None] = [None] * len(tokens)
    for span in spans:
        for t in range(span["start"], min(span["end"], len(tokens))):
            if best[t] is None or span["contribution"] > best[t]["contribution"]:
                best[t] = span
    parts, t = [], 0
    while t < len(tokens):
        span = best[t]
        end = t + 1
        while end < len(tokens) and best[end] is span:
            end += 1
        words = _escape(" ".join(tokens[t:end]))
        if span is None:
            parts.append(words)
        else:
            alpha = 0.2 + 0.6 * span["contribution"] / top
            tip = f"{span['ngram']}: +{span['contribution']:.3f}"
            parts.append(
                f'<mark style="background:rgba(255,170,0,{alpha:.2f})" '
                f'title="{_escape(tip)}">{words}</mark>'
            )
        t = end
    return " ".join(parts)


@dataclass
class Report:
    """A report of one model on one evaluation; ``title`` names the model (and version)."""

    title: str
    record: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_bundle(cls, bundle: Bundle, title: str, record: dict[str, Any] | None = None) -> Report:
        """``bundle``'s report on ``record``, by default the evaluation stored at training."""
        record = record if record is not None else bundle.extra.get(EVALUATION_KEY)
        if not isinstance(record, dict):
            raise ReportError(
                f"{title} stores no evaluation (it was trained before reports, or without "
                "dev or test data): give it labelled `data` to evaluate on"
            )
        facts = {"modality": bundle.modality, "arch": bundle.arch, "labels": len(bundle.labels)}
        return cls(title, record, bundle.training, {k: str(v) for k, v in facts.items()})

    @property
    def history(self) -> list[dict[str, Any]]:
        return (self.training.get("result") or {}).get("history") or []

    def figures(self) -> dict[str, bytes]:
        """Every figure the page shows, as PNG bytes by file name."""
        # matplotlib loads only when a report is drawn
        from textcnn.report.figures import confusion_figure, reliability_figure, training_figure

        metrics = self.record["metrics"]
        out = {
            "confusion.png": confusion_figure(metrics["confusion_matrix"], metrics["labels"]),
            "reliability.png": reliability_figure(self.record["calibration"]),
        }
        if self.history:
            best = (self.training.get("result") or {}).get("best_epoch")
            out["training.png"] = training_figure(self.history, best)
        for k, mistake in enumerate(self.record["mistakes"], 1):
            if "image" in mistake:
                out[f"mistake-{k}.png"] = base64.b64decode(mistake["image"])
        return out

    def html(self, src: Callable[[str], str]) -> str:
        """The page; ``src(name)`` is where the figure ``name`` is found."""

        def img(name: str, alt: str) -> str:
            return f'<img src="{_escape(src(name))}" alt="{_escape(alt)}">'

        r, m = self.record, self.record["metrics"]
        facts = " · ".join(f"{k} {_escape(v)}" for k, v in self.facts.items())
        out = [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Report: {_escape(self.title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>Report: {_escape(self.title)}</h1>",
            f'<p class="facts">{facts}</p>',
            f"<p>Evaluated on {_escape(r['data'])}: {_escape(SPLIT_NOTE.get(r['split'], ''))}; "
            f"{_int('examples', m['examples'])} examples.</p>",
            '<div class="headline">',
            f"<div>accuracy<b>{_num('accuracy', m['accuracy'])}</b></div>",
            f"<div>macro-F1<b>{_num('macro_f1', m['macro_f1'])}</b></div>",
            f"<div>expected calibration error<b>{_num('ece', r['calibration']['ece'])}</b></div>",
            *_before_temperature(r["calibration"]),
            "</div>",
            "<h2>Per class</h2>",
            "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>"
            "<th>support</th></tr>",
        ]
        for label, s in m["per_class"].items():
            key = f"per_class.{label}"
            out.append(
                f"<tr><td>{_escape(label)}</td><td>{_num(key + '.precision', s['precision'])}</td>"
                f"<td>{_num(key + '.recall', s['recall'])}</td>"
                f"<td>{_num(key + '.f1', s['f1'])}</td>"
                f"<td>{_int(key + '.support', s['support'])}</td></tr>"
            )
        out += ["</table>", "<h2>Confusion matrix</h2>", img("confusion.png", "confusion matrix")]
        out.append("<details><summary>counts</summary><table><tr><th>true \\ predicted</th>")
        out += [f"<th>{_escape(label)}</th>" for label in m["labels"]]
        out.append("</tr>")
        for i, (label, row) in enumerate(zip(m["labels"], m["confusion_matrix"], strict=True)):
            cells = "".join(f"<td>{_int(f'confusion.{i}.{j}', c)}</td>" for j, c in enumerate(row))
            out.append(f"<tr><td>{_escape(label)}</td>{cells}</tr>")
        out += [
            "</table></details>",
            "<h2>Calibration</h2>",
            "<p>How often the predicted label is right, against how sure the model was, in "
            "confidence bins; the expected calibration error is the mean gap weighted by the "
            "bins' examples. The scores are the softmax of the logits divided by a temperature "
            "fitted on the dev data (Guo et al. 2017), which moves no prediction.</p>",
            img("reliability.png", "reliability diagram"),
            "<h2>Training curves</h2>",
        ]
        if self.history:
            out.append(img("training.png", "training loss and accuracy per epoch"))
        else:
            out.append(
                '<p class="note">This bundle records no per-epoch training history, so there '
                "are no training curves.</p>"
            )
        out += self._mistakes(img)
        out += self._ngrams()
        out.append("</body></html>")
        return "\n".join(out) + "\n"

    def _mistakes(self, img: Callable[[str, str], str]) -> list[str]:
        mistakes = self.record["mistakes"]
        out = ["<h2>Most confident mistakes</h2>"]
        if not mistakes:
            return [*out, '<p class="note">No mistakes on this data.</p>']
        if any("explanation" in m for m in mistakes):
            out.append(
                "<p>Highlighted: the n-grams that won max-over-time pooling and pushed the "
                "wrong label most (hover for the n-gram and its contribution to the logit).</p>"
            )
        for k, mistake in enumerate(mistakes, 1):
            out.append('<div class="mistake">')
            out.append(
                f"<b>{_escape(mistake['label'])}</b> taken for "
                f"<b>{_escape(mistake['predicted'])}</b> with confidence "
                f"{_num(f'mistakes.{k}.confidence', mistake['confidence'], 3)} "
                f'<span class="where">{_escape(mistake["where"])}</span><br>'
            )
            if "image" in mistake:
                out.append(img(f"mistake-{k}.png", f"mistake {k}"))
            if "explanation" in mistake:
                out.append(f'<span class="tokens">{highlighted(mistake["explanation"])}</span>')
            elif "text" in mistake:
                out.append(_escape(mistake["text"]))
            out.append("</div>")
        return out

    def _ngrams(self) -> list[str]:
        ngrams = self.record.get("ngrams")
        if ngrams is None:
            return []
        out = [
            "<h2>N-grams that decide each class</h2>",
            "<p>For each predicted class, the n-grams that most often made the largest "
            "contribution to the prediction: how often, and their mean contribution.</p>",
        ]
        for label, rows in ngrams.items():
            out.append(f"<h3>{_escape(label)}</h3><table><tr><th>n-gram</th><th>times</th>")
            out.append("<th>mean contribution</th></tr>")
            out += [
                f"<tr><td>{_escape(r['ngram'])}</td><td>{r['count']}</td>"
                f"<td>{r['contribution']:.3f}</td></tr>"
                for r in rows
            ]
            out.append("</table>")
        return out

    def write(self, directory: str | Path) -> Path:
        """Write ``index.html`` and ``figures/*.png`` into ``directory``; returns the page."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ReportError(f"{directory} exists and is not a directory")
        (directory / FIGURES).mkdir(parents=True, exist_ok=True)
        for name, png in self.figures().items():
            (directory / FIGURES / name).write_bytes(png)
        page = directory / PAGE
        page.write_text(self.html(lambda name: f"{FIGURES}/{name}"), encoding="utf-8")
        return page

    def inline(self) -> str:
        """The page with every figure embedded as a data URI."""
        figures = {k: base64.b64encode(v).decode("ascii") for k, v in self.figures().items()}
        return self.html(lambda name: f"data:image/png;base64,{figures[name]}")
