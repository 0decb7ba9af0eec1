"""Exact explanations for TextCNN predictions: the n-grams that won max-over-time pooling.

In eval mode a TextCNN's logit for class ``c`` is ``b_c + sum_j W[c, j] * h_j``, where ``h_j``
is feature ``j``'s maximum over time (after ReLU). Feature ``j`` of width ``w`` takes that
maximum at one output position ``t``, which sees input tokens ``t-(w-1) .. t`` (the bank pads
``w-1`` on both sides). Summing ``W[c, j] * h_j`` over the features whose winning window covers
the same token span gives each span's exact contribution to the logit; nothing is sampled or
approximated. A model with n-gram scores (``NgramScores``) adds, exactly as well, each word's
and each word pair's row of its table to the span of that word or pair, and its bias to the
bias.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from textcnn.engine.predictor import Prediction, Predictor
from textcnn.errors import TextCNNError
from textcnn.models.textcnn import TextEncoder


@dataclass
class NgramContribution:
    ngram: str
    start: int  # token index of the first token
    end: int  # token index after the last token
    contribution: float  # added to the predicted class's logit

    def to_dict(self) -> dict[str, Any]:
        return {
            "ngram": self.ngram,
            "start": self.start,
            "end": self.end,
            "contribution": self.contribution,
        }


@dataclass
class LabelExplanation:
    """One label's logit, split into its bias and the contributions of the winning spans."""

    label: str
    logit: float
    bias: float  # logit = bias + the contributions of every span
    ngrams: list[NgramContribution]  # the spans that pushed the label most, largest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "logit": self.logit,
            "bias": self.bias,
            "ngrams": [n.to_dict() for n in self.ngrams],
        }


@dataclass
class Explanation:
    prediction: Prediction
    logit: float  # the predicted class's logit
    bias: float  # its bias: logit = bias + the contributions of every span
    tokens: list[str]
    ngrams: list[NgramContribution]  # the spans that pushed the prediction most, largest first
    labels: list[LabelExplanation] | None = None  # multi-label: each predicted label's

    def to_dict(self) -> dict[str, Any]:
        out = {
            "logit": self.logit,
            "bias": self.bias,
            "tokens": self.tokens,
            "ngrams": [n.to_dict() for n in self.ngrams],
        }
        if self.labels is not None:
            out["labels"] = [e.to_dict() for e in self.labels]
        return out


def supports_explanations(predictor: Predictor) -> bool:
    """Whether ``predictor`` is a TextCNN (an encoder with feature maps and a linear head)
    whose logits its spans account for: not with a sentence encoder's term of the whole text."""
    model = predictor.model
    encoder = getattr(model, "encoder", None)
    return (
        isinstance(encoder, TextEncoder)
        and hasattr(getattr(model, "head", None), "linear")
        and predictor.input_term is None
    )


@torch.inference_mode()
def explain(predictor: Predictor, texts: Sequence[str], top: int | None = 5) -> list[Explanation]:
    """Predict ``texts`` and name, for each, the ``top`` spans that raised its predicted class
    (and for a multi-label model, each predicted label's, in ``labels``).

    ``top=None`` lists every span, negative contributions included: then ``bias`` plus the
    contributions add up to ``logit``. A text with no tokens has one empty span ``(0, 0)``,
    the padding the model classified.
    """
    if not supports_explanations(predictor):
        raise TextCNNError("explanations need a TextCNN model")
    processor = predictor.processor
    token_lists = [processor.tokenize(t) for t in texts]
    ids = processor.encode_tokens(token_lists).to(predictor.device)
    encoder: TextEncoder = predictor.model.encoder
    linear = predictor.model.head.linear
    ngram_scores = getattr(predictor.model, "side", None)
    widths = encoder.convs.widths
    with predictor.autocast():  # the prediction's precision: the same label, always
        maps_by_width = encoder.feature_maps(ids)
        pooled, positions = zip(*(h.max(dim=-1) for h in maps_by_width), strict=True)
        features = torch.cat(pooled, dim=1)  # [B, maps * widths], as in forward()
        if predictor.runtime is None:
            logits = linear(features).float()
            if ngram_scores is not None:
                logits = logits + ngram_scores(ids).float()
            logits = logits.cpu()
        else:  # the label and scores the prediction gives, from the same forward pass
            logits = predictor.logits_from_tensor(ids)
    predictions = predictor.predictions_from_proba(predictor.proba_from_logits(logits))
    maps = pooled[0].shape[1]
    feature_width = torch.tensor(widths).repeat_interleave(maps)
    ends = torch.cat(positions, dim=1).cpu() + 1  # exclusive end of each winning window
    starts = (ends - feature_width).clamp(min=0)
    weight, bias = linear.weight.float().cpu(), linear.bias.float().cpu()
    features = features.float().cpu()
    ngram_spans, ngram_values = ngram_contributions(ngram_scores, ids)
    if ngram_scores is not None:
        bias = bias + (ngram_scores.weight * ngram_scores.bias).float().cpu()
    joiner = "" if getattr(processor, "tokenizer", None) == "char" else " "

    def label_explanation(row: int, label: str, tokens: list[str]) -> LabelExplanation:
        c = predictor.labels.index(label)
        contributions = (weight[c] * features[row]).tolist()
        spans: dict[tuple[int, int], float] = defaultdict(float)
        for start, end, value in zip(
            starts[row].tolist(), ends[row].tolist(), contributions, strict=True
        ):
            end = min(end, len(tokens))
            if start < end:
                spans[start, end] += value
            elif not tokens:  # nothing survived tokenisation: the model saw only padding
                spans[0, 0] += value
        if ngram_scores is not None:
            for span, value in zip(ngram_spans, ngram_values[row, :, c].tolist(), strict=True):
                if value:  # padding and unknown words score 0
                    spans[span] += value
        ranked = sorted(spans.items(), key=lambda kv: kv[1], reverse=True)
        if top is not None:
            ranked = [kv for kv in ranked if kv[1] > 0][:top]
        ngrams = [NgramContribution(joiner.join(tokens[s:e]), s, e, v) for (s, e), v in ranked]
        return LabelExplanation(label, float(logits[row, c]), float(bias[c]), ngrams)

    results = []
    for row, (tokens, prediction) in enumerate(zip(token_lists, predictions, strict=True)):
        main = label_explanation(row, prediction.label, tokens)
        each = None
        if prediction.labels is not None:
            each = [label_explanation(row, label, tokens) for label in prediction.labels]
        results.append(
            Explanation(prediction, main.logit, main.bias, tokens, main.ngrams, labels=each)
        )
    return results


def ngram_contributions(
    ngrams: torch.nn.Module | None, ids: torch.Tensor
) -> tuple[list[tuple[int, int]], torch.Tensor]:
    """The token span of each ``NgramScores`` feature of ``ids`` ``[B, T]`` (the same for every
    text), and the features' weighted class scores ``[B, F, C]``; nothing without the scores."""
    if ngrams is None:
        return [], torch.zeros(0)
    width = ids.shape[1]
    spans = [(t, t + 1) for t in range(width)] + [(t, t + 2) for t in range(width - 1)]
    return spans, (ngrams.weight * ngrams.feature_scores(ids)).float().cpu()
