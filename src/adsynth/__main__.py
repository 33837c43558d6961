"""``python -m adsynth`` (used by ``torchrun -m adsynth``)."""

from adsynth.cli.main import main

main()
