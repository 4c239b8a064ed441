"""Executors: how the runs of a grid are scheduled (``inline``, ``process``, ``ray``); all share
``bench.execute.common``."""

from bench.execute.common import Outcome, Plan, finish_run, plan, progress_columns

__all__ = ["Outcome", "Plan", "finish_run", "plan", "progress_columns"]
