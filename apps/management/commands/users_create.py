"""`manage.py users_create NAME [--staff]`: creates a user; prints their first API token (alone, on stdout), once."""

from django.core.management.base import BaseCommand, CommandError

from apps.services import user_create
from paas.errors import PaasError


class Command(BaseCommand):
    help = "Create a user (an operator with --staff) and print their first API token, which is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The new user's name.")
        parser.add_argument("--staff", action="store_true", help="An operator: sees and changes every app.")

    def handle(self, *args, **options):
        try:
            user, _, key = user_create(username=options["username"], is_staff=options["staff"], actor=None)
        except PaasError as error:
            raise CommandError(str(error)) from error
        kind = "staff user" if user.is_staff else "user"
        self.stderr.write(
            f"Created {kind} {user.username}. Their API token, shown this once (only its hash is kept), is the line "
            f"below; with it saved to a file, they log in with: paas login URL < FILE"
        )
        self.stdout.write(key)
