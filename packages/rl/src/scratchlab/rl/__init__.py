"""scratchlab-rl: policy gradients, actor-critic, GAE, PPO, DPO and GRPO."""
