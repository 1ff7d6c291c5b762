"""``nora``: NORA-compatible data command line."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="nora", description="NORA-compatible data command line")


def main(argv=None) -> int:
    build_parser().parse_args(argv)
    return 0
