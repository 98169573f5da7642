"""Training toolkit for acoustic-edge: custom-source HTDemucs models (demucs 4.1.0).

``python -m training synth|train|evaluate|export``; see docs/training.md.
"""
