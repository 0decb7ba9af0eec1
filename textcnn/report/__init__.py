"""Evaluation reports: a record computed where the data is (by the modality's rules:
``modalities.evaluation``), drawn as HTML with PNG figures."""

from textcnn.modalities.evaluation import EVALUATION_KEY, evaluation_record
from textcnn.report.page import Report, ReportError

__all__ = ["EVALUATION_KEY", "Report", "ReportError", "evaluation_record"]
