"""Argument types shared by the management commands."""


def positive_int(value: str) -> int:
    """An ``argparse`` type: a whole number of at least 1 (argparse reports
    anything else as an invalid value of the option)."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number
