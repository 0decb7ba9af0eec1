"""The image modality's implementation: decoding and caching folders of images, preprocessing,
augmentation and training on the shared engine (registered by ``modalities.image``)."""
