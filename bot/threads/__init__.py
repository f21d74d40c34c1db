"""A Slack thread as one Gemini conversation: messages in, exactly-once ordered turns, answers."""
