"""tane (種): grow instruction-tuning datasets from a handful of human-written seeds."""

__version__ = "0.1.0"
