"""Differentiable architecture search with actor-critic distillation (A2D), as PPO hooks."""
