"""Metrics: streaming confusion matrix, semantic and foreground scores, bootstrap intervals."""

from c2fbench.metrics.confusion import ConfusionMatrix, image_confusion
from c2fbench.metrics.semantic import SemanticScores, semantic_scores

__all__ = ["ConfusionMatrix", "SemanticScores", "image_confusion", "semantic_scores"]
