"""Learning: asymmetric actor-critic algorithms (PPO, SAC) on batched envs (contract 1), shared networks, storage,
normalizers, checkpoints and export. The actor reads the env's ``policy`` group; the critic reads ``critic`` and
falls back to ``policy`` when an env has no critic group."""
