import pytest

from buildpacks.procfile import procfile_parse, release_default_processes
from paas.errors import InvalidInput


def test_procfile_lines_become_process_types():
    text = "# processes\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python worker.py\n"
    assert procfile_parse(text) == {"web": "gunicorn app:app --bind 0.0.0.0:$PORT", "worker": "python worker.py"}


def test_a_malformed_procfile_line_is_named():
    with pytest.raises(InvalidInput, match="Procfile line 2"):
        procfile_parse("web: serve\nthis is not a process\n")


def test_buildpack_release_defaults():
    text = "---\naddons: []\ndefault_process_types:\n  web: 'python app.py'\n  worker: work\nconfig_vars: {}\n"
    assert release_default_processes(text) == {"web": "python app.py", "worker": "work"}
    assert release_default_processes("---\ndefault_process_types: {}\n") == {}
