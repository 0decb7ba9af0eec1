"""The REST service: FastAPI app serving registry models (``textcnn serve``)."""
