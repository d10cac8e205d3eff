"""bn–en corpus and translation-model pipeline."""
__version__ = "0.1.0"
