"""Executors: how the runs of a grid are scheduled (``inline``, ``process``, ``ray``); all share
``bench.execute.common``. Empty on purpose: every command loads ``bench.execute.plugins``, and
importing the executors here would pull torch, timm and the training loop into ``bench list``."""
