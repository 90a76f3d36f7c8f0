"""The chapters' graders run inside a student's kernel: importing any of them (every module of
autograde.chapters) must load nothing of the instructor's grading stack."""
import json
import subprocess
import sys

INSTRUCTOR_ONLY = ("nbgrader", "nbclient", "nbconvert", "jupyter_client", "sqlalchemy")

IMPORT_EVERY_CHAPTER_MODULE = """
import importlib, json, pkgutil, sys
import autograde.chapters as chapters
names = [info.name for info in pkgutil.walk_packages(chapters.__path__, "autograde.chapters.")]
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
    loaded = [name for name in report["loaded"] if name.split(".")[0] in INSTRUCTOR_ONLY]
    assert not loaded, loaded
