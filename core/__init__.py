"""The foundation every other package stands on: frozen settings and the store (models, lifecycle, services).

Imports nothing of `monitoring`, `fixes` or `bot`; they all import from here.
"""
