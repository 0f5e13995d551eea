"""conductor.toml -> frozen dataclasses, and back.

Each key is declared once, in `schema`; `reader` validates a file against those
declarations (errors name FILE:LINE), `dump` saves the resolved config in the run dir and
`example` writes the commented config of `conductor init`.
"""

from conductor.config.checks import DEAF_KINDS, EXTERNAL_KINDS
from conductor.config.dump import config_to_dict, write_resolved
from conductor.config.example import example_config
from conductor.config.reader import bundled_workspaces_dir, default_agent_kind, load_config, parse_config
from conductor.config.schema import AgentConfig, Config, Knob, PaneSpec, Price, WorkspaceConfig

__all__ = [
    "DEAF_KINDS",
    "EXTERNAL_KINDS",
    "AgentConfig",
    "Config",
    "Knob",
    "PaneSpec",
    "Price",
    "WorkspaceConfig",
    "bundled_workspaces_dir",
    "config_to_dict",
    "default_agent_kind",
    "example_config",
    "load_config",
    "parse_config",
    "write_resolved",
]
