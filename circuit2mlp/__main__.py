"""``python -m circuit2mlp`` runs the command-line interface, so a checkout runs without
installing."""

from circuit2mlp.cli import main

if __name__ == "__main__":
    main()
