"""Pure rendering of domain views: Block Kit for Slack (`blocks`), plain text for the terminal (`text`)."""
