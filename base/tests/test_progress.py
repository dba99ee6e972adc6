import io

from base.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_it_writes_a_line_every_tenth():
    stream = io.StringIO()

    with ProgressBar(200, stream=stream, label="users") as bar:
        for _ in range(200):
            bar.advance()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # 0%, 10%, ..., 100%
    assert lines[0].startswith("users [------------------------------] 0/200   0%")
    assert lines[-1].startswith("users [##############################] 200/200 100%")


def test_on_a_terminal_it_redraws_one_line():
    stream = Terminal()

    with ProgressBar(4, stream=stream, width=4) as bar:
        bar.advance(2)
        bar.advance(2)

    output = stream.getvalue()
    assert output.count("\n") == 1
    assert "\r[##--] 2/4  50%" in output
    assert output.rstrip("\n").split("\r")[-1].startswith("[####] 4/4 100%")


def test_disabled_or_empty():
    stream = io.StringIO()
    with ProgressBar(10, stream=stream, enabled=False) as bar:
        bar.advance(10)
    assert stream.getvalue() == ""

    with ProgressBar(0, stream=stream) as bar:
        pass
    assert stream.getvalue().splitlines() == [stream.getvalue().splitlines()[0]]
    assert "0/0 100%" in stream.getvalue()
