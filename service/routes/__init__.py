"""HTTP routes: thin handlers over the model manager (``routing`` picks the model)."""
