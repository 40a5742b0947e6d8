"""Agent: the TD3 policy trained on the state vectors, and its walk-forward evaluation."""
