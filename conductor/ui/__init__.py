"""The terminal UI: the only package that imports textual.

It watches the engine through its event bus and speaks to it through commands
(conductor.core.commands); the engine does not know it exists.
"""
