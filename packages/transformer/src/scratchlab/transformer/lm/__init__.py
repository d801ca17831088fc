"""The ``lm`` task: train a decoder-only language model on a dataset and tokenizer from the
registry and report validation loss, bits per byte, parameter counts and speed.

``config.py`` holds the settings, ``data.py`` what both backends share (token ids, bits per
byte, starting weights, the pretrain cache), and ``torch.py`` / ``mlx.py`` the training loop in
each framework, mirrored name for name.
"""
