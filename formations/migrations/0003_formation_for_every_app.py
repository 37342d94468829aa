from django.db import migrations


def formations_create(apps, schema_editor):
    """Every app has a formation from its first moment; apps made before that rule get theirs now."""
    App = apps.get_model("apps", "App")
    Formation = apps.get_model("formations", "Formation")
    for app in App.objects.filter(formation__isnull=True):
        Formation.objects.create(app=app)


class Migration(migrations.Migration):
    dependencies = [
        ("apps", "0001_initial"),
        ("formations", "0002_formation_generations"),
    ]

    operations = [migrations.RunPython(formations_create, migrations.RunPython.noop)]
