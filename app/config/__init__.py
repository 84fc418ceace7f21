"""Configuration: a typed schema, read from YAML plus environment overrides."""
