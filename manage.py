#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    # Django keeps an error in the settings for later and goes on; a command
    # may then fail on something else first (which system check runs first
    # depends on a set's order), e.g. "Models aren't loaded yet". Loading the
    # settings here makes the configuration error the one reported.
    settings.INSTALLED_APPS  # noqa: B018
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
