"""The application: settings, database, Slack app, CLI, and the wiring of monitoring and fixes."""
