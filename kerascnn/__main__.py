"""``python -m kerascnn`` is the same as the ``kerascnn`` command."""

from kerascnn.cli import main

if __name__ == "__main__":
    main()
