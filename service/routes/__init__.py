"""HTTP routes: thin handlers over the model manager."""
