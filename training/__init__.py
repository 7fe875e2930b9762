"""Training scripts of the learned replacement methods (need the ``train`` extra: torch), and the
quantization of the default detector (``quantize_centerface``: onnxruntime and scikit-image only)."""
