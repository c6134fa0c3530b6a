"""Profiles: the model, the manifest, the project and its config, and selection."""
