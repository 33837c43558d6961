"""The command-line interface (click). Commands are loaded lazily so ``adsynth --help`` stays fast."""
