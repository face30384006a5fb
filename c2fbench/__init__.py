"""c2fbench: coarse-to-fine weakly supervised segmentation, benchmarked."""

__version__ = "0.1.0"
