"""Training of one candidate: data sets, losses, the train-and-evaluate function and the thin
Ray Tune adapter around it. Imports spaces/ only (plus torch, numpy, scikit-learn, pydantic)."""
