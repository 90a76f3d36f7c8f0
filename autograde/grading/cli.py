"""The instructor's command line: python -m autograde <command> (or `backprop-lab <command>`).

Exit status: 0 when the command ran, whatever the students' notebooks did (a notebook that
cannot be graded scores 0 and is listed); 1 when the grader itself failed on some submissions
(listed, flagged G, no score recorded for them); 2 for the instructor's own errors (not a course
folder, no release, unknown assignment, a sandbox that cannot import the course's package,
nbgrader itself failing).
"""
import argparse
import os
import sys
import time
from pathlib import Path

TERM = """typical term:  setup -> release -> nbgrader release_assignment <a> -> (students fetch, validate, submit)
               -> nbgrader collect <a> -> grade -> feedback -> nbgrader release_feedback <a> -> export.
               Try it first:  python -m autograde demo
"""


def main(argv=None):
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help, or a mistake on the command line (one line already said)
        return done.code
    if not getattr(args, "run", None):
        parser().print_help()
        return 2
    from autograde.grading.course.config import CourseError, NbgraderFailed, put_interpreter_tools_on_path

    put_interpreter_tools_on_path()
    if getattr(args, "db_url", None):  # nbgrader_config.py reads it: every nbgrader step uses that database
        os.environ["BACKPROP_LAB_DB_URL"] = args.db_url
    try:
        return args.run(args) or 0
    except (CourseError, NbgraderFailed, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


class Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line (and exit 2), like every other mistake of the
    instructor's; --help shows the usage."""

    def error(self, message):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def parser():
    top = Parser(
        prog="python -m autograde", description="Grade a whole Backprop Lab class with nbgrader: fast, "
        "correctly and safely.", epilog=TERM, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(metavar="command", title="commands")

    def command(name, run, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        if name != "demo":
            p.add_argument("--course", default=".", help="the nbgrader course folder (default: here)")
        p.add_argument("--db-url", help="the gradebook's database, e.g. postgresql+psycopg://user@host/course "
                                        "(default: nbgrader_config.py's CourseDirectory.db_url, else gradebook.db)")
        return p

    p = command("setup", run_setup, "Once per course: the exchange (where students fetch assignments, submit and "
                "fetch feedback: $BACKPROP_LAB_EXCHANGE, else <course>/exchange), the students' nbgrader config, "
                "the gradebook and the roster.")
    p.add_argument("--exchange", help="a shared exchange folder instead of <course>/exchange (for a machine "
                                      "several users share; <course>/exchange becomes a link to it)")
    p.add_argument("--roster", help="CSV of students to import into the gradebook (column id; optionally "
                                    "first_name, last_name, email, lms_user_id), as `nbgrader db student import`")
    p.add_argument("--student-config", help="where to write the students' nbgrader config (default: this "
                                            "environment's etc/jupyter/nbgrader_config.py; '' for none)")

    p = command("release", run_release, "Generate the student version release/<assignment>/ from source/.")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")

    p = command("grade", run_grade, "Autograde submitted/<student>/<assignment>/ into the gradebook, in "
                "parallel, sandboxed.")
    selection(p)
    limits(p)
    p.add_argument("--brief", action="store_true", help="summary table without the flag details")

    p = command("feedback", run_feedback, "Write feedback/<student>/<assignment>/*.html (hidden tests never shown).")
    selection(p)
    p.add_argument("-j", "--workers", type=workers, default=0, help="pages made at once (default: one per core)")

    p = command("export", run_export, "Write grades.csv and cells.csv.")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--out", default="grades", help="folder for the CSV files (default: <course>/grades)")

    p = command("summary", run_summary, "Print the class table again (student x assignment, with flags).")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--brief", action="store_true", help="without the flag details")

    p = command("report", run_report, "Write the mistake report: report.html (score distributions, points lost "
                "per cell, a cause x cell heat map, example messages; self-contained) and causes.csv.")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--out", default="report", help="folder for the report (default: <course>/report)")

    p = command("demo", run_demo, "Build the sample class (every assignment's sample submissions and the "
                "bad inputs) and run release, grade, feedback, export, the summary and the mistake report on it.")
    p.add_argument("--workdir", default="demo_class", help="scratch folder (default: ./demo_class; rebuilt)")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--no-bad-inputs", action="store_true", help="only the chapters' sample submissions")
    # the demo's own budgets: its endless-loop samples (one per assignment) stop after 30 s; its
    # slowest honest notebook took 15 s, its slowest cell 6.5 s (figures drawn), on a slow, busy
    # 2-core machine: an honest sample must never lose points to a budget
    limits(p, cell_timeout=10, notebook_timeout=30, memory_mb=2048)
    p.add_argument("--brief", action="store_true", help="summary table without the flag details")
    return top


def workers(text):
    """-j: a whole number, 1 or more (0 where the default is one per core)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: workers cannot be fewer than 1 (0: one per core)")
    return value


def selection(p):
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")


def limits(p, cell_timeout=None, notebook_timeout=None, memory_mb=None, kernels="auto"):
    default = "(default: the course config's)"
    p.add_argument("-j", "--workers", type=workers, default=0, help="notebooks graded at once (default: one per core)")
    p.add_argument("--cell-timeout", type=int, default=cell_timeout,
                   help=f"seconds one cell may run {default if cell_timeout is None else f'(default {cell_timeout})'}")
    p.add_argument("--notebook-timeout", type=int, default=notebook_timeout,
                   help="seconds a whole notebook may run "
                        f"{default if notebook_timeout is None else f'(default {notebook_timeout})'}")
    p.add_argument("--memory-mb", type=int, default=memory_mb,
                   help=f"memory limit of a student's kernel {default if memory_mb is None else f'(default {memory_mb})'}")
    p.add_argument("--sandbox-user", default="auto",
                   help="user to run student code as when grading as root (default: auto = the course config's, "
                        "a uid of their own per grading worker if it can run this Python; '' = root without "
                        "capabilities)")
    p.add_argument("--unsandboxed", action="store_true",
                   help="grade even where no sandbox (bubblewrap, Landlock) can run: student code then reads the "
                        "course with the grader's rights; every submission is flagged U")
    p.add_argument("--scheduler", default="",
                   help="grade on a Dask cluster: the scheduler's address, e.g. tcp://10.0.0.5:8786 (default: "
                        "local processes)")
    p.add_argument("--kernels", choices=("auto", "fresh", "forked"), default=kernels,
                   help="fresh: a new kernel process per notebook; forked: each kernel a child of a warm fork server "
                        "per worker (the imports paid once; needs bubblewrap and Landlock 6, else fresh); "
                        f"auto: the course config's SandboxKernelManager.kernels, forked unless set (default: {kernels})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def settings(args):
    from autograde.grading.settings import Settings
    return Settings(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                    memory_mb=args.memory_mb, sandbox_user=args.sandbox_user, unsandboxed=args.unsandboxed,
                    scheduler=args.scheduler, progress=not args.no_progress, kernels=args.kernels)


# --- commands ---------------------------------------------------------------------------------------

def run_setup(args):
    from autograde.grading.course.exchange import setup
    from autograde.grading.course.front_door import open_course

    course = Path(args.course).resolve()
    open_course(course, gradebook=False)  # setup makes the gradebook
    done = setup(course, args.exchange, args.roster, args.student_config)
    print(f"exchange: {done.exchange} (nbgrader_config.py: c.Exchange.root = {done.course_exchange})")
    if done.student_config_written:
        print(f"students' config: {done.student_config}")
    print(f"gradebook: {done.gradebook}" + (" (alembic stamp added)" if done.stamped else ""))
    if args.roster:
        print(f"roster: {len(done.students)} students imported from {args.roster}")
    for note in done.notes:
        print(f"note: {note}")
    print("next: python -m autograde release -a <assignment>; nbgrader release_assignment <assignment>")


def run_release(args):
    from tqdm import tqdm

    from autograde.grading.course.config import CourseError
    from autograde.grading.course.front_door import open_course
    from autograde.grading.course.release import generate_release

    course = Path(args.course).resolve()
    open_course(course, gradebook=False)  # the release makes the gradebook
    source = course / "source"
    found = sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")) if source.is_dir() else []
    assignments = args.assignment or found
    missing = [assignment for assignment in assignments if assignment not in found]
    if missing or not assignments:
        raise CourseError(f"no source/{missing[0] if missing else '<assignment>'}/ (found: {', '.join(found) or 'none'})")
    for assignment in tqdm(assignments, unit="assignment", desc="releasing", disable=len(assignments) < 2):
        generate_release(course, assignment)
        tqdm.write(f"released {assignment} -> {course / 'release' / assignment}")


def run_grade(args):
    from autograde.grading.course.front_door import open_course

    course = Path(args.course).resolve()
    start = time.monotonic()
    open_course(course, args.assignment)  # before any worker starts
    run_settings = settings(args)
    run_settings.start_workers(course)  # they warm up while this process imports the grader
    from autograde.grading.scheduling.runner import grade_class
    from autograde.grading.reports.summary import table

    results = grade_class(course, args.assignment, args.student, run_settings)
    elapsed = time.monotonic() - start
    if not results:
        print("nothing to grade: no submitted/<student>/<assignment>/ folders match")
        return 0
    grader_failed = [r for r in results if any(flag["code"] == "G" for flag in r.flags)]
    failed = sum(not r.graded for r in results) - len(grader_failed)
    print(f"graded {len(results)} notebooks in {elapsed:.0f} s ({60 * len(results) / elapsed:.1f}/min)"
          + (f"; {failed} could not be graded (scored 0)" if failed else ""))
    print()
    print(table(course, args.assignment, details=not args.brief))
    if grader_failed:
        print(f"\nThe grader itself failed on {len(grader_failed)} submissions (flag G: no score recorded, not the "
              "students' fault); fix the cause and grade them again:", file=sys.stderr)
        for record in grader_failed[:20]:
            print(f"  {record.student} / {record.assignment}: {record.reason}", file=sys.stderr)
        return 1


def run_feedback(args):
    from autograde.grading.course.front_door import open_course
    from autograde.grading.reports.feedback import generate

    course = Path(args.course).resolve()
    open_course(course, args.assignment)
    count, failed = generate(course, args.assignment, args.student, args.workers, progress=True)
    print(f"wrote {count} feedback pages under {course / 'feedback'}")
    if failed:
        print(f"nbgrader could not make the page of {len(failed)} graded submissions: "
              + ", ".join(f"{student} / {assignment}" for assignment, student in failed[:20]), file=sys.stderr)
        return 1


def run_export(args):
    from autograde.grading.course.front_door import open_course
    from autograde.grading.reports.export import export

    course = Path(args.course).resolve()
    open_course(course, args.assignment)
    out = Path(args.out) if Path(args.out).is_absolute() else course / args.out
    grades_csv, cells_csv, means = export(course, out, args.assignment)
    print(f"wrote {grades_csv} and {cells_csv}")
    if means:
        print("\nclass mean per graded cell (hardest first):")
        for (assignment, cell), (mean, maximum) in sorted(means.items(), key=lambda kv: kv[1][0] / (kv[1][1] or 1)):
            print(f"  {assignment:<22} {cell:<32} {mean:5.2f} / {maximum:g}")


def run_summary(args):
    from autograde.grading.course.front_door import open_course
    from autograde.grading.reports.summary import table

    course = Path(args.course).resolve()
    open_course(course, args.assignment)
    print(table(course, args.assignment, details=not args.brief))


def run_report(args):
    from autograde.grading.course.front_door import open_course
    from autograde.grading.reports.report import write

    course = Path(args.course).resolve()
    open_course(course, args.assignment)
    out = Path(args.out) if Path(args.out).is_absolute() else course / args.out
    page, counts, _ = write(course, out, args.assignment)
    print(f"wrote {page} and {counts}")


def run_demo(args):
    from autograde.grading.demo.build import build_class
    from autograde.grading.reports.export import export
    from autograde.grading.reports.feedback import generate
    from autograde.grading.reports.report import write
    from autograde.grading.scheduling.runner import grade_class
    from autograde.grading.reports.summary import table

    workdir = Path(args.workdir).resolve()
    print(f"building the sample class in {workdir} ...")
    count = build_class(workdir, args.assignment, bad_inputs=not args.no_bad_inputs)
    run_settings = settings(args)
    where = args.scheduler or f"{run_settings.worker_count()} local workers"
    print(f"{count} submissions; grading on {where}")
    start = time.monotonic()
    results = grade_class(workdir, args.assignment, None, run_settings)
    elapsed = time.monotonic() - start
    pages, _ = generate(workdir, args.assignment, workers=run_settings.worker_count(), progress=True)
    grades_csv, cells_csv, _ = export(workdir, workdir / "grades", args.assignment)
    print(f"graded {len(results)} notebooks in {elapsed:.0f} s ({60 * len(results) / elapsed:.1f}/min); "
          f"{pages} feedback pages in {workdir / 'feedback'}; grades in {grades_csv.parent}")
    print()
    print(table(workdir, args.assignment, details=not args.brief))
    page, _, _ = write(workdir, workdir / "report", args.assignment)
    print(f"\nwhat the class got wrong, and why: {page}")


if __name__ == "__main__":
    sys.exit(main())
