"""The image modality: decoding and caching folders of images, preprocessing, augmentation and
training on the shared engine (``textcnn.engine``)."""
