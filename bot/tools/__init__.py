"""The bot's own function tools offered to the model (image generation, ...)."""
