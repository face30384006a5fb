"""Metrics: the metric objects (a streaming confusion matrix, its foreground twin for J and P,
the CAM seed sweep over background thresholds), semantic and foreground scores, bootstrap
intervals. The Python API, with runnable examples: docs/python-api.md."""

from c2fbench.metrics.bootstrap import (bootstrap_mean_j, bootstrap_miou, bootstrap_miou_stats, paired_bootstrap_mean_j,
                                        paired_bootstrap_miou, paired_bootstrap_miou_stats)
from c2fbench.metrics.confusion import ConfusionMatrix, image_confusion
from c2fbench.metrics.foreground import ForegroundJP, ForegroundScores, foreground_scores, image_jp
from c2fbench.metrics.semantic import SemanticScores, class_iou, miou_of, semantic_scores, stats_of
from c2fbench.metrics.sweep import ThresholdSweep

__all__ = ["ConfusionMatrix", "ForegroundJP", "ForegroundScores", "SemanticScores", "ThresholdSweep",
           "bootstrap_mean_j", "bootstrap_miou", "bootstrap_miou_stats", "class_iou", "foreground_scores",
           "image_confusion", "image_jp", "miou_of", "paired_bootstrap_mean_j", "paired_bootstrap_miou",
           "paired_bootstrap_miou_stats", "semantic_scores", "stats_of"]
