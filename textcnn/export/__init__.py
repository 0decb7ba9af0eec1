"""Trained bundles as files other runtimes load: ONNX networks with a preprocessing contract
(``textcnn export``); ``consumer`` runs them with only onnxruntime and NumPy."""

from textcnn.export.contract import build_contract
from textcnn.export.onnx_export import Exported, export_onnx

__all__ = ["Exported", "build_contract", "export_onnx"]
