"""The console's forms for changing a running app: scale, restart, rollback and config.

They only read what the user typed; the services they feed (formations.services) decide what is allowed,
so the console refuses exactly what the API refuses, with the same messages.
"""

from django import forms

from formations.selectors import formation_get
from releases.selectors import config_current, release_list


def _process_types(formation) -> dict:
    return dict(sorted(formation.release.processes.items())) if formation.release else {}


class ScaleForm(forms.Form):
    """One replica count per process type of the release the formation runs."""

    intro = "How many jobs of each process type run; the scheduler starts or stops jobs to match (paas scale)."
    help_as_code = True  # each count's help is its process type's command

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        formation = formation_get(app=app)
        for process_type, command in _process_types(formation).items():
            self.fields[process_type] = forms.IntegerField(
                label=process_type,
                initial=formation.counts.get(process_type, 0),
                help_text=command,
                widget=forms.NumberInput(attrs={"min": 0, "style": "width: 6em"}),
            )

    def counts(self) -> dict:
        """The counts to scale to, as formation_scale takes them: {"web": 2}."""
        return {process_type: self.cleaned_data[process_type] for process_type in self.fields}


class RestartForm(forms.Form):
    """Which process type to restart; all of them when none is chosen."""

    intro = "Replaces the jobs one by one, each new one up before an old one stops (paas restart)."

    process_type = forms.ChoiceField(label="Process type", required=False)

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        types = [(process_type, process_type) for process_type in _process_types(formation_get(app=app))]
        self.fields["process_type"].choices = [("", "all process types"), *types]


class RollbackForm(forms.Form):
    """Which earlier release to copy; the one before the newest when none is chosen."""

    intro = "Makes a new release with an earlier one's build, config and process types, and deploys it (paas rollback)."

    version = forms.TypedChoiceField(label="Roll back to", coerce=int, empty_value=None, required=False)

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        releases = [
            (release.version, f"v{release.version}: {release.description or 'no description'}")
            for release in release_list(app=app)[:50]
            if release.artifact_id  # a release that only set config has no build to run
        ]
        self.fields["version"].choices = [("", "the release before the newest"), *releases]


class ConfigForm(forms.Form):
    """Config vars to set (KEY=VALUE lines) and to unset (names); all in one new release."""

    intro = "Sets and unsets config vars in one new release, deployed like a push (paas env set, paas env unset)."

    set_lines = forms.CharField(
        label="Set",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "placeholder": "KEY=value"}),
        help_text="One KEY=value a line.",
    )
    unset_keys = forms.CharField(label="Unset", required=False, help_text="Names to remove, separated by spaces.")

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = config_current(app=app)

    def clean_set_lines(self) -> dict:
        values = {}
        for number, line in enumerate(self.cleaned_data["set_lines"].splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, value = line.partition("=")
            if not equals:
                raise forms.ValidationError(f"line {number} ({line.strip()!r}) is not KEY=value")
            values[key.strip()] = value
        return values

    def clean_unset_keys(self) -> list:
        return self.cleaned_data["unset_keys"].split()

    def changes(self) -> dict:
        """The changes as config_update takes them: a value sets a key, None unsets it."""
        return {**self.cleaned_data["set_lines"], **dict.fromkeys(self.cleaned_data["unset_keys"])}
