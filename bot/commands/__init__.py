"""The `/gemini` slash command: one module per subcommand, routed by the first word."""
