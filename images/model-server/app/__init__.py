"""Reference model server for model-fleet."""
