"""Channel digests: recording scheduled channels, reading a window, summarising, posting."""
