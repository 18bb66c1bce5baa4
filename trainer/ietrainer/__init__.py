"""Self-supervised trainer (MoCo v3) and concept-reward regression for Internet Explorer."""

__version__ = "0.1.0"
