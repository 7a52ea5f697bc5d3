"""Batched environments written as torch tensor code: thousands of envs step in one call."""
