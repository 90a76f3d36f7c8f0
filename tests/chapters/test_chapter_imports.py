"""What a student's kernel imports (autograde, its checks and every module of autograde.chapters)
loads nothing of the instructor's grading stack: the one place this is checked, in a fresh
interpreter (the test process has loaded nbgrader for other tests)."""
import json
import subprocess
import sys

INSTRUCTOR_ONLY = ("nbgrader", "nbclient", "nbconvert", "jupyter_client", "sqlalchemy", "dask", "distributed")

IMPORT_EVERY_CHAPTER_MODULE = """
import importlib, json, pkgutil, sys
import autograde, autograde.chapters as chapters
names = ["autograde." + info.name for info in pkgutil.iter_modules(autograde.__path__)
         if info.name not in ("grading", "__main__")]
names += [info.name for info in pkgutil.walk_packages(chapters.__path__, "autograde.chapters.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_chapter_module_loads_nothing_of_the_grading_pipeline():
    # a fresh interpreter: this one has loaded nbgrader for other tests
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_CHAPTER_MODULE], capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert {"autograde.chapters.softmax_nll.staged", "autograde.chapters.mlp_backprop.training",
            "autograde.chapters.label_smoothing.training"} <= set(report["imported"])
    loaded = [name for name in report["loaded"] if name.split(".")[0] in INSTRUCTOR_ONLY
              or name.startswith("autograde.grading")]
    assert not loaded, loaded
