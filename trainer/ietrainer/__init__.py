"""Self-supervised trainer (MoCo v3) and concept-reward regression for Internet Explorer."""

import os

# OpenMP threads that spin while waiting for work collapse when the cores are shared (workers,
# ONNX scoring, other runs): on 2 busy cores a cpu-small step ran >10x slower than with passive
# waiting. Read when torch loads its OpenMP runtime, so it must be set before any `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
