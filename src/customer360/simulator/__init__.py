"""Seeded touch-point simulator: writes landing files per the ingestion contracts, plus the truth."""

from customer360.simulator.config import SimulationConfig, SimulationSummary
from customer360.simulator.core import simulate

__all__ = ["SimulationConfig", "SimulationSummary", "simulate"]
