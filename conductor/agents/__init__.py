"""Agents propose experiments. Each kind lives in its own module, imported only when used."""
