"""Delivery of an applied fix: push to the deploy branch, or a pull request (docs/delivery.md)."""
