"""Seeded touch-point simulator: writes landing files per the ingestion contracts, plus the truth."""

from simulator.config import SimulationConfig, SimulationSummary
from simulator.core import simulate

__all__ = ["SimulationConfig", "SimulationSummary", "simulate"]
