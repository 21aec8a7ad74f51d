"""fieldops: field-service dispatch and work-order system."""

__version__ = "0.1.0"
