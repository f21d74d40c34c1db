"""Answer delivery to Slack: edit streaming, native streaming, and choosing between them."""
