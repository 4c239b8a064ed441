"""Measurements of a model: parameters, FLOPs, latency, saliency. Each states its convention."""
