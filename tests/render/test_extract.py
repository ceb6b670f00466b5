"""Finding the code in what a model wrote."""

from __future__ import annotations

from src.render.extract import extract_chart_code, extract_released, extract_svg_markup, extract_table_markup


def test_chart_code_from_fences_prose_and_bare_text() -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])"
    assert extract_chart_code(f"```python\n{code}\n```") == code + "\n"
    assert extract_chart_code(f"```\n{code}\n```") == code + "\n"
    two = f"Install it:\n```python\nimport os\n```\nThen plot:\n```python\n{code}\n```"
    assert extract_chart_code(two) == code + "\n"
    assert extract_chart_code(code) == code
    assert extract_chart_code(f"Sure, here you go.\n{code}") == code
    assert extract_chart_code("while True:\n    pass") is not None  # code, even if it does nothing useful
    assert extract_chart_code(f"```python\n{code}") == code  # an unterminated fence (generation cut off)


def test_chart_prose_is_not_code() -> None:
    for prose in ("", "   ", "Hello", "I cannot reproduce this chart.", "```python\n\n```", "```bash\npip x\n```"):
        assert extract_chart_code(prose) is None, prose


def test_table_and_svg_markup() -> None:
    assert extract_table_markup("```html\n<table><tr><td>1</td></tr></table>\n```").startswith("<table>")
    assert extract_table_markup("| a | b |\n|:-|-:|\n| 1 | 2 |") is not None
    assert extract_table_markup("a | b") is None
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'
    assert extract_svg_markup(f"Here it is: {svg} Enjoy!") == svg
    assert extract_svg_markup(f'<?xml version="1.0"?>\n{svg}').startswith("<?xml")
    assert extract_svg_markup("no vector here") is None


def test_released_extraction_reads_answers_as_the_public_reward_does() -> None:
    """Written out from the public reward's rules: the last tagged python/svg fence, its tag picks the renderer."""
    assert extract_released("```python\n  plt.plot([1])  \n```") == ("chart", "plt.plot([1])")
    chart_then_svg = "```python\nplt.plot([1])\n```\nor\n```svg\n<svg><rect/></svg>\n```"
    assert extract_released(chart_then_svg) == ("svg", "<svg><rect/></svg>")  # the last block, whatever the task
    assert extract_released("```SVG\n<svg/>\n```") == ("svg", "<svg/>")
    assert extract_released("```\nplt.plot([1])\n```") is None  # an untagged fence is not read
    assert extract_released("```py\nplt.plot([1])\n```") is None  # nor another tag
    assert extract_released("```python\n\n```") is None
    assert extract_released("```python\nplt.plot([1])") is None  # unterminated
    # No tagged block: from the first <svg on, a cut-off tag dropped and the element closed.
    assert extract_released("Sure: <svg width='8'><rect/><circ") == ("svg", "<svg width='8'><rect/></svg>")
    assert extract_released("<svg><rect/></svg> done") == ("svg", "<svg><rect/></svg> done</svg>")
    assert extract_released("no code at all") is None
