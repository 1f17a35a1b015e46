"""Equilibrium propagation on layered networks with layer-skipping connections.

A Numba-accelerated reimplementation of Gammell & McCaughan (2020), "Layer-skipping
connections facilitate training of layered networks using equilibrium propagation".
"""

__version__ = "0.3.0"
