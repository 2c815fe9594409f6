"""Scorechain default-probability models: data, training, evaluation, ONNX export, serving."""


def package_version() -> str:
    """The installed `scorechain` distribution's version (pyproject.toml), for every CLI's
    `--version`; a source tree that was never installed says so instead of failing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scorechain")
    except PackageNotFoundError:
        return "unknown (scorechain is not installed: pip install -e .)"


def add_version_argument(parser, prog: str) -> None:
    """`--version` on an argparse parser, the same text on every CLI of the project."""
    parser.add_argument("--version", action="version", version=f"{prog} {package_version()}")
