"""scratchlab-optim: SGD, Adam, AdamW, Muon, Lion and learning-rate schedules."""
