"""`manage.py stack_build`: builds the stack image now, if the Docker engine lacks it."""

import sys

from django.core.management.base import BaseCommand

from buildpacks.stack import stack_ensure
from hosts.engine import build_engine


class Command(BaseCommand):
    help = "Build the stack image (debootstrap + docker import) unless the Docker engine has it already."

    def handle(self, *args, **options):
        def output(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        reference = stack_ensure(build_engine(), output)
        self.stdout.write(f"stack image: {reference}")
