"""Warm start for text: continue training a bundle's model on new data.

The candidate's vocabulary is the old one extended with the new training words (old training
words keep their ids, pretrained-only words follow). A model is built for it as usual, so new
words get the usual initialisation; then the embedding rows of words the old model knew, the
convolutions and the head are copied from the old model. N-gram scores are not carried over:
they are fitted again, on the new training data, once the CNN has trained, as for any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gensim.models import KeyedVectors
from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.warmstart import check_warm_start
from textcnn.errors import TextCNNError
from textcnn.text.embeddings import COMBINE, WORD2VEC_TRAIN
from textcnn.text.options import TextTrainOptions
from textcnn.text.vocab import Vocab


def check_compatible(old: Bundle, opts: TextTrainOptions, labels: Sequence[str]) -> None:
    """Fail unless ``old`` has the architecture, tokenisation and labels ``opts`` describe."""
    settings = _settings(old, opts) if old.arch == "textcnn" else {}
    check_warm_start(old, "textcnn", settings, labels)


def _settings(old: Bundle, opts: TextTrainOptions) -> dict[str, tuple[Any, Any]]:
    """What must not change, old value and new: the vocabulary's and weights' shapes."""
    cfg, processor = old.model_config, old.processor
    wanted = {
        "mode": (cfg.mode, opts.mode),
        "filter_widths": (tuple(cfg.filter_widths), tuple(opts.filter_widths)),
        "feature_maps": (cfg.feature_maps, opts.feature_maps),
        "tokenizer": (processor.tokenizer, opts.tokenizer),
        "lowercase": (processor.lowercase, opts.lowercase),
        "multi_label": (old.multi_label, opts.multi_label),
    }
    if opts.mode == "rand":
        wanted["dim"] = (cfg.dim, opts.dim)
    else:  # the same vectors, so that new words land in the space the convolutions learnt
        stored = old.training.get("options") or {}
        for key in ("embeddings", "encoder_dim"):
            wanted[key] = (stored.get(key, getattr(opts, key)), getattr(opts, key))
        if WORD2VEC_TRAIN in (opts.embeddings or "").split(COMBINE):
            raise TextCNNError(
                f"warm start cannot use `embeddings` {WORD2VEC_TRAIN}: a Word2Vec learnt on new "
                "data lies in another space than the old model's; retrain from scratch"
            )
    return wanted


def extend_vocab(
    old: Bundle,
    train_tokens: Sequence[Sequence[str]],
    opts: TextTrainOptions,
    vectors: KeyedVectors | None,
) -> tuple[Vocab, int]:
    """The old training words, then new training words, then pretrained-only words.

    Returns the vocabulary and the number of training words (``trained_vocab_size``).
    """
    old_words = old.processor.vocab.itos
    trained = old.model_config.trained_vocab_size
    new_words = Vocab.build(train_tokens, opts.min_count, opts.max_vocab).itos[2:]
    vocab = Vocab(old_words[:trained]).extend(new_words)
    trained_size = len(vocab)
    vocab = vocab.extend(old_words[trained:])
    if vectors is not None and opts.pretrained_vocab:
        vocab = vocab.extend(vectors.index_to_key[: opts.pretrained_vocab])
    return vocab, trained_size


@torch.no_grad()
def transfer_weights(old: Bundle, model: nn.Module, vocab: Vocab, labels: Sequence[str]) -> int:
    """Copy ``old``'s weights into ``model`` (built for ``vocab``); returns words carried over."""
    old_ids = old.processor.vocab.stoi
    pairs = [(i, old_ids[word]) for i, word in enumerate(vocab.itos) if word in old_ids]
    new_idx = torch.tensor([i for i, _ in pairs])
    old_idx = torch.tensor([j for _, j in pairs])
    source, target = old.model.encoder, model.encoder
    for table in ("static", "tuned"):
        if hasattr(target, table):
            src, dst = getattr(source, table).weight, getattr(target, table).weight
            both = (new_idx < len(dst)) & (old_idx < len(src))
            dst[new_idx[both]] = src[old_idx[both]].to(dst)
    target.convs.load_state_dict(source.convs.state_dict())
    rows = torch.tensor([old.labels.index(label) for label in labels])
    model.head.linear.weight.copy_(old.model.head.linear.weight[rows])
    model.head.linear.bias.copy_(old.model.head.linear.bias[rows])
    return len(pairs)
