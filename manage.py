#!/usr/bin/env python
"""Django's command-line utility for administrative tasks on the paas controller."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.settings")
    if os.environ["DJANGO_SETTINGS_MODULE"] == "paas.settings":
        from paas.datadir import data_dir_prepare

        data_dir_prepare()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
