"""Answer controls: the Stop, Regenerate and feedback buttons and what a click does."""
