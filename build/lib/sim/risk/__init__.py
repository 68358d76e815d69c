"""Pure risk math: default sampling and the loss waterfall. No Mesa, no config objects."""
