"""The REST service: a FastAPI app serving the store's models (``textcnn serve``; needs the
``serve`` extra). The library never imports it."""
