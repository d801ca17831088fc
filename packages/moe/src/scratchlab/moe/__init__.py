"""scratchlab-moe: mixture-of-experts: routers, experts, balancing losses."""
