"""cyber-bordereaux: the monthly batch processor for Japanese cyber-insurance bordereaux."""

__version__ = "0.1.0"
