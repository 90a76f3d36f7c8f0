"""MathAsMathML (autograde/grading/preprocessors/math_as_mathml.py): the maths of a markdown cell
as MathML on the HTML page nbconvert renders with the course's config, code left as written."""
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_markdown_cell, new_notebook
from traitlets.config import Config

from autograde.grading.course.layout import ROOT
from autograde.grading.preprocessors.math_as_mathml import as_mathml

TEXT = (r"The loss $L = -\log p_y$ costs $5 and $6; its gradient is" "\n"
        r"$$\frac{\partial L}{\partial z_i} = p_i - y_i$$" "\n"
        r"and `$x$` in code stays, as does an escaped \$ sign.")


def test_inline_and_display_maths_become_mathml_and_code_stays():
    out = as_mathml(TEXT)
    assert out.count("<math ") == 2 and 'display="block"' in out and 'display="inline"' in out
    assert "costs $5 and $6" in out and "`$x$`" in out and r"\$ sign" in out
    assert 'alttext="L = -&#92;log p&#95;y"' in out  # the TeX, for who wants it, inert to markdown


def test_a_formula_latex2mathml_cannot_read_stays_as_written():
    assert as_mathml(r"$\begin{unknown}x$") == r"$\begin{unknown}x$"


def page(config):
    body, _ = HTMLExporter(config=config).from_notebook_node(new_notebook(cells=[new_markdown_cell(TEXT)]))
    return body


def test_the_courses_config_renders_the_maths_of_every_html_page_as_mathml():
    config = Config()
    exec(compile((ROOT / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"),
         {"get_config": lambda: config, "__file__": str(ROOT / "nbgrader_config.py")})
    html = page(config)
    assert html.count("<math ") == 2 and "<mfrac>" in html
    assert "$L = -" not in html  # nothing left for a MathJax that cannot load
    assert "<code>$x$</code>" in html
    assert "<math " not in page(Config())  # nbconvert alone leaves it to MathJax
