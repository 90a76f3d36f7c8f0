"""RubricForGraders (autograde/grading/preprocessors/rubric_for_graders.py): the formgrader's grading
page shows each written answer's model answer and rubric from the master, rendered with the
course's config; a feedback page, rendered by the same exporter, does not."""
import nbformat
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from autograde.grading.course.layout import ROOT

MASTER_ANSWER = ("### BEGIN SOLUTION\n**Model answer.** Each use adds a term.\n\n"
                 "**Rubric (1 point).** 0.5: one term per use; 0.5: why `=` loses them.\n### END SOLUTION")
STUDENT_ANSWER = "I think the uses add up."


def written(source):
    return new_markdown_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": True, "locked": False, "grade_id": "written_forks", "points": 1}})


def course_config(root):
    config = Config()
    exec(compile((ROOT / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"),
         {"get_config": lambda: config, "__file__": str(ROOT / "nbgrader_config.py")})
    config.CourseDirectory.root = str(root)
    return config


def rendered(tmp_path, resources):
    master = tmp_path / "source" / "ps1" / "problems.ipynb"
    master.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), written(MASTER_ANSWER)]), master)
    submission = new_notebook(cells=[new_code_cell("x = 1"), written(STUDENT_ANSWER)])
    body, _ = HTMLExporter(config=course_config(tmp_path)).from_notebook_node(submission, resources=resources)
    return body


def test_the_grading_page_shows_the_model_answer_and_the_rubric_under_the_answer(tmp_path):
    page = rendered(tmp_path, {"submission_id": "1", "assignment_id": "ps1", "notebook_id": "problems"})
    assert STUDENT_ANSWER in page
    assert page.index(STUDENT_ANSWER) < page.index("For the grader") < page.index("Rubric (1 point)")
    assert "Each use adds a term." in page and "BEGIN SOLUTION" not in page


def test_a_students_page_shows_neither(tmp_path):
    page = rendered(tmp_path, {"nbgrader": {"notebook": "problems", "assignment": "ps1", "student": "bob"}})
    assert STUDENT_ANSWER in page
    assert "For the grader" not in page and "Rubric" not in page and "Model answer" not in page

