"""The text modality's implementation: file formats, tokenisers, vocabulary, word vectors,
TextCNN training, warm start and n-gram explanations (registered by ``modalities.text``)."""
