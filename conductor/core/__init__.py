"""The engine. Imports no textual, no torch, no agent SDK: it publishes events and takes commands."""
