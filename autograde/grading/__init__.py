"""The instructor's side: grading a class with nbgrader, the reports, the sample class.

Nothing here runs inside a student's kernel (autograde and autograde.chapters do), except
sandbox.py, which the kernel's process runs by file path before it becomes the kernel.
"""
