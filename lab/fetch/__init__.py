"""Files the project takes from package registries (Debian, PyPI): pinned by SHA-256, fetched by one command into a
cache, verified again whenever they are used."""
