"""Scorechain default-probability models: data, training, evaluation, ONNX export, serving."""


def package_version() -> str:
    """The installed `scorechain` distribution's version (pyproject.toml), for every CLI's
    `--version`; a source tree that was never installed says so instead of failing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scorechain")
    except PackageNotFoundError:
        return "unknown (scorechain is not installed: pip install -e .)"
