from __future__ import annotations

import io

from lfs_meta.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal_and_cleared_at_the_end() -> None:
    stream = Terminal()
    with Progress("tracking", total=4, stream=stream) as progress:
        for _ in range(4):
            progress.advance()
    text = stream.getvalue()
    assert "\r\x1b[Ktracking: [#######.......................] 1/4" in text
    assert "[##############################] 4/4" in text
    assert text.endswith("\r\x1b[K")


def test_counter_without_a_total() -> None:
    stream = Terminal()
    with Progress("listing", stream=stream) as progress:
        progress.advance(1500)
    assert "listing: 1,500" in stream.getvalue()


def test_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("tracking", total=2, stream=stream) as progress:
        progress.advance(2)
    assert stream.getvalue() == ""
