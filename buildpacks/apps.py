from django.apps import AppConfig


class BuildpacksConfig(AppConfig):
    name = "buildpacks"
    verbose_name = "Builds"
