"""circuit2mlp: compile sparse boolean circuits into ReLU MLPs that compute in superposition."""

__version__ = "0.1.0"
