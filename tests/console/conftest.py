"""The console's tests: Django test-client tests, and one `browser` test in a real headless Chromium."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives the console in a real headless Chromium (scripts/install-browser installs it)",
    )
