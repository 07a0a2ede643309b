"""Model registry: immutable joblib artefacts with model cards, and which version serves."""
