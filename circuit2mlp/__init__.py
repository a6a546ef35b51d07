"""circuit2mlp: compile sparse boolean circuits into ReLU MLPs that compute in superposition."""

__version__ = "0.1.0"


def load(path, **options):
    """A weights file as a hookable ``torch.nn.Module`` with its feature dictionary attached
    (see :mod:`circuit2mlp.hooked`; needs torch)."""
    from circuit2mlp.hooked import load as _load

    return _load(path, **options)
