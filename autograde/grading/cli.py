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

COMMANDS = """commands:
  setup      once per course: the exchange students fetch from and submit to, the roster, their config
  release    generate the student version (release/) of every assignment in source/
  grade      autograde all submissions (or --assignment / --student) in parallel, safely
  feedback   write feedback HTML (hidden tests never shown)
  export     write grades.csv (student x assignment) and cells.csv (one row per graded cell)
  summary    print the class table again
  report     write the mistake report: report.html (what the class got wrong, and why) and causes.csv
  demo       build the bundled sample class in a scratch folder and run the whole pipeline on it

typical term:  setup -> release -> nbgrader release_assignment <a> -> (students fetch, validate, submit)
               -> nbgrader collect <a> -> grade -> feedback -> nbgrader release_feedback <a> -> export.
               Try it first:  python -m autograde demo
"""


def main(argv=None):
    args = parser().parse_args(argv)
    if not getattr(args, "run", None):
        parser().print_help()
        return 2
    from .course import CourseError, NbgraderFailed, put_interpreter_tools_on_path

    put_interpreter_tools_on_path()
    if getattr(args, "db_url", None):  # nbgrader_config.py reads it: every nbgrader step uses that database
        os.environ["BACKPROP_LAB_DB_URL"] = args.db_url
    try:
        return args.run(args) or 0
    except (CourseError, NbgraderFailed, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def parser():
    top = argparse.ArgumentParser(
        prog="python -m autograde", description="Grade a whole Backprop Lab class with nbgrader: fast, "
        "correctly and safely.", epilog=COMMANDS, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(metavar="command")

    def command(name, run, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        if name != "demo":
            p.add_argument("--course", default=".", help="the nbgrader course folder (default: here)")
        p.add_argument("--db-url", help="the gradebook's database, e.g. postgresql+psycopg://user@host/course "
                                        "(default: nbgrader_config.py's CourseDirectory.db_url, else gradebook.db)")
        return p

    p = command("setup", run_setup, "Set up the course's exchange (where students fetch assignments, submit and "
                "fetch feedback: $BACKPROP_LAB_EXCHANGE, else <course>/exchange), the students' nbgrader config, "
                "the gradebook and the roster.")
    p.add_argument("--exchange", help="a shared exchange folder instead of <course>/exchange (for a machine "
                                      "several users share; <course>/exchange becomes a link to it)")
    p.add_argument("--roster", help="CSV of students to import into the gradebook (column id; optionally "
                                    "first_name, last_name, email, lms_user_id), as `nbgrader db student import`")
    p.add_argument("--student-config", help="where to write the students' nbgrader config (default: this "
                                            "environment's etc/jupyter/nbgrader_config.py; '' for none)")

    p = command("release", run_release, "Generate release/<assignment>/ from source/ for every assignment.")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")

    p = command("grade", run_grade, "Autograde submitted/<student>/<assignment>/ into the gradebook.")
    selection(p)
    limits(p)
    p.add_argument("--brief", action="store_true", help="summary table without the flag details")

    p = command("feedback", run_feedback, "Write feedback/<student>/<assignment>/*.html.")
    selection(p)
    p.add_argument("-j", "--workers", type=int, default=0, help="pages made at once (default: one per core)")

    p = command("export", run_export, "Write grades.csv and cells.csv.")
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--out", default="grades", help="folder for the CSV files (default: <course>/grades)")

    p = command("summary", run_summary, "Print the class table (student x assignment, with flags).")
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
    # the demo's own budgets: its endless-loop samples (one per assignment) stop after 5 s; its
    # slowest honest notebook takes about 2.3 s, its slowest cell 1 s, on a busy 2-core machine
    limits(p, cell_timeout=2, notebook_timeout=5, memory_mb=2048)
    p.add_argument("--brief", action="store_true", help="summary table without the flag details")
    return top


def selection(p):
    p.add_argument("-a", "--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")


def limits(p, cell_timeout=None, notebook_timeout=None, memory_mb=None, kernels="auto"):
    default = "(default: the course config's)"
    p.add_argument("-j", "--workers", type=int, default=0, help="notebooks graded at once (default: one per core)")
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
    from .settings import Settings
    return Settings(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                    memory_mb=args.memory_mb, sandbox_user=args.sandbox_user, unsandboxed=args.unsandboxed,
                    scheduler=args.scheduler, progress=not args.no_progress, kernels=args.kernels)


# --- commands ---------------------------------------------------------------------------------------

def run_setup(args):
    from .term import setup

    course = Path(args.course).resolve()
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
    from .course import CourseError, generate_release

    course = Path(args.course).resolve()
    source = course / "source"
    if not (course / "nbgrader_config.py").is_file() or not source.is_dir():
        raise CourseError(f"{course} has no nbgrader_config.py or no source/: is it a course folder?")
    found = sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    assignments = args.assignment or found
    for assignment in assignments:
        if assignment not in found:
            raise CourseError(f"no source/{assignment}/ (found: {', '.join(found) or 'none'})")
        generate_release(course, assignment)
        print(f"released {assignment} -> {course / 'release' / assignment}")


def run_grade(args):
    course = Path(args.course).resolve()
    start = time.monotonic()
    run_settings = settings(args)
    if (course / "nbgrader_config.py").is_file():  # else grade_class says what is wrong
        run_settings.start_workers(course)  # they warm up while this process imports the grader
    from .runner import grade_class
    from .reports.summary import table

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
    from .reports.feedback import generate

    course = Path(args.course).resolve()
    count = generate(course, args.assignment, args.student, args.workers)
    print(f"wrote {count} feedback pages under {course / 'feedback'}")


def run_export(args):
    from .reports.export import export

    course = Path(args.course).resolve()
    out = Path(args.out) if Path(args.out).is_absolute() else course / args.out
    grades_csv, cells_csv, means = export(course, out, args.assignment)
    print(f"wrote {grades_csv} and {cells_csv}")
    if means:
        print("\nclass mean per graded cell (hardest first):")
        for (assignment, cell), (mean, maximum) in sorted(means.items(), key=lambda kv: kv[1][0] / (kv[1][1] or 1)):
            print(f"  {assignment:<22} {cell:<32} {mean:5.2f} / {maximum:g}")


def run_summary(args):
    from .reports.summary import table

    print(table(Path(args.course).resolve(), args.assignment, details=not args.brief))


def run_report(args):
    from .reports.report import write

    course = Path(args.course).resolve()
    out = Path(args.out) if Path(args.out).is_absolute() else course / args.out
    page, counts, _ = write(course, out, args.assignment)
    print(f"wrote {page} and {counts}")


def run_demo(args):
    from .demo import build_class
    from .reports.export import export
    from .reports.feedback import generate
    from .reports.report import write
    from .runner import grade_class
    from .reports.summary import table

    workdir = Path(args.workdir).resolve()
    print(f"building the sample class in {workdir} ...")
    count = build_class(workdir, args.assignment, bad_inputs=not args.no_bad_inputs)
    run_settings = settings(args)
    where = args.scheduler or f"{run_settings.worker_count()} local workers"
    print(f"{count} submissions; grading on {where}")
    start = time.monotonic()
    results = grade_class(workdir, args.assignment, None, run_settings)
    elapsed = time.monotonic() - start
    pages = generate(workdir, args.assignment, workers=run_settings.worker_count())
    grades_csv, cells_csv, _ = export(workdir, workdir / "grades", args.assignment)
    print(f"graded {len(results)} notebooks in {elapsed:.0f} s ({60 * len(results) / elapsed:.1f}/min); "
          f"{pages} feedback pages in {workdir / 'feedback'}; grades in {grades_csv.parent}")
    print()
    print(table(workdir, args.assignment, details=not args.brief))
    page, _, _ = write(workdir, workdir / "report", args.assignment)
    print(f"\nwhat the class got wrong, and why: {page}")


if __name__ == "__main__":
    sys.exit(main())
