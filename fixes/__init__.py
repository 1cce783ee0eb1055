"""Root-cause analysis and fix generation (DSPy), code context, edits, and the apply pipeline."""
