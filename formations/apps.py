from django.apps import AppConfig


class FormationsConfig(AppConfig):
    name = "formations"
