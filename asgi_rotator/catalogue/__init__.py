"""The provider catalogue: presets a provider names with ``preset: NAME``."""
