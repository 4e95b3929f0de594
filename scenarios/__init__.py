"""The bundled scenario library (YAML files beside this one)."""
