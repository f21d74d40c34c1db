"""The playground: the real bot behind a local, Slack-like web page; no Slack workspace needed."""
