"""The bundled sample class: every available assignment's sample submissions (autograde.grading.demo.samples)
and the bad inputs (autograde.grading.demo.samples.bad_inputs), in a scratch nbgrader course."""
import shutil
from pathlib import Path

from autograde.grading.course.layout import ROOT, available_assignments, make_course, submit
from autograde.grading.course.release import generate_release
from autograde.grading.course.config import CourseError
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS

MARKER = ".backprop-lab-demo"  # only a folder carrying this is ever wiped


def prepare(workdir):
    workdir = Path(workdir).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise CourseError(f"{workdir} is not empty and not a demo class: choose another --workdir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("scratch folder of `python -m autograde demo`; safe to delete\n")
    return workdir


def build_class(workdir, assignments=None, bad_inputs=True, root=ROOT):
    """A fresh course in `workdir` with the release made and every sample submitted.
    Returns the number of submissions."""
    assignments = assignments or available_assignments(root)
    missing = [a for a in assignments if a not in available_assignments(root)]
    if missing:
        raise CourseError(f"no master notebook for {', '.join(missing)} (available: "
                          f"{', '.join(available_assignments(root))})")
    workdir = prepare(workdir)
    make_course(workdir, assignments, root)
    count = 0
    for assignment in assignments:
        generate_release(workdir, assignment)
        samples = [(v.name, v.build(assignment, root)) for v in variants(assignment)]
        if bad_inputs:
            samples += [(b.name, b.build(assignment)) for b in BAD_INPUTS]
        for student, notebook in samples:
            submit(workdir, assignment, student, notebook)
            count += 1
    return count
