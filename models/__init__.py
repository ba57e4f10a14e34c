"""LightGBM models for pay dates, default risk and match scoring, evaluated against baselines and tracked in MLflow."""
