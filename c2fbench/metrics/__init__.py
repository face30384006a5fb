"""Metrics: the metric objects (a streaming confusion matrix, its foreground twin for J and P),
semantic and foreground scores, bootstrap intervals."""

from c2fbench.metrics.confusion import ConfusionMatrix, image_confusion
from c2fbench.metrics.foreground import ForegroundJP, ForegroundScores, foreground_scores, image_jp
from c2fbench.metrics.semantic import SemanticScores, semantic_scores

__all__ = ["ConfusionMatrix", "ForegroundJP", "ForegroundScores", "SemanticScores", "foreground_scores",
           "image_confusion", "image_jp", "semantic_scores"]
