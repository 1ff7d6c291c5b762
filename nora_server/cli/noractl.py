"""``noractl``: administration (init, services, database upgrade, users, tests)."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="noractl", description="napari-nora administration")


def main(argv=None) -> int:
    build_parser().parse_args(argv)
    return 0
