"""The package version, apart from ``textcnn/__init__`` so any module can read it."""

__version__ = "0.1.0"
