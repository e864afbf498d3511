"""Agents whose tools are the platform's own APIs, called through the gateway with the user's token."""
