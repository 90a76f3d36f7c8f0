"""The release step: source/ -> release/ with nbgrader's own converter, in this process."""
import os
from contextlib import chdir
from pathlib import Path

from autograde.grading.course.config import NbgraderFailed, course_config
from autograde.grading.course.layout import notebook_path
from autograde.grading.gradebook.database import stamped_in_process


def generate_release(workdir, assignment):
    """`nbgrader generate_assignment --force <assignment>`, run in this process (nbgrader's own
    converter with the course's config): source/ -> release/, the assignment into the gradebook."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = course_config(Path(workdir) / "nbgrader_config.py")
    config.CourseDirectory.root = str(Path(workdir).resolve())
    config.CourseDirectory.assignment_id = assignment
    with chdir(os.getcwd()), stamped_in_process():  # nbgrader changes into the course folder: back here afterwards
        converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
        converter.force = True
        result = capture_log(converter)
    if not result["success"]:
        raise NbgraderFailed(f"nbgrader generate_assignment {assignment} failed:\n{result.get('log', '')}\n"
                             f"{result.get('error', '')}")
    return notebook_path(workdir, "release", assignment)
