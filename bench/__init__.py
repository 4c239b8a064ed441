"""attnbench: train, measure and report attention modules in CNNs, grid by grid."""

__version__ = "0.1.0"
