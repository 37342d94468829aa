"""Text made safe for a terminal: what a build prints is shown, never acted on. Imports nothing of Django.

Used by the git receiver (what a push sees) and the CLI (build logs it prints).
"""

import re

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen, ...
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, DCS, SOS, PM and APC strings: window titles, links, ...
    r"|\x1b[ -/]*[0-~]"  # the other escape sequences (two characters, or with intermediates)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI as one 8-bit character
)
# The start of an escape sequence (or of a CR LF) at the end of a chunk: kept back until the next chunk.
_UNFINISHED = re.compile(r"(?:\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)?|\x9b[0-?]*[ -/]*|\r)\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 controls, but for tab and newline
_UNFINISHED_MAX = 1024


def terminal_safe(text: str) -> str:
    """`text` without what a terminal acts on instead of showing: escape sequences and control characters.

    Newlines and tabs stay; a carriage return ends the line (it cannot make later text hide earlier text).
    """
    text = _ESCAPE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


class TerminalText:
    """Makes a stream of text chunks terminal-safe, when an escape sequence is split across two chunks too."""

    def __init__(self):
        self._held = ""

    def feed(self, text: str) -> str:
        """The safe part of what came so far; an unfinished escape sequence at the end waits for the next chunk."""
        text = self._held + text
        unfinished = _UNFINISHED.search(text)
        cut = len(text)
        if unfinished and cut - unfinished.start() <= _UNFINISHED_MAX:
            cut = unfinished.start()
        self._held = text[cut:]
        return terminal_safe(text[:cut])

    def end(self) -> str:
        """What was held back, made safe: the stream has ended."""
        text, self._held = self._held, ""
        return terminal_safe(text)


def indented(text: str) -> str:
    """Output of an app's own commands (a build step, a release command), indented under the `----->` steps."""
    return "".join(f"       {line}" for line in text.splitlines(keepends=True))
