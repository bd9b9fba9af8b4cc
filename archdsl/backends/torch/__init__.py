"""The PyTorch backend: generated source (codegen.py) and running it in-process (runtime.py)."""
