"""Persistence shared by bot, monitoring and fixes. Imports nothing else of `bot`."""
