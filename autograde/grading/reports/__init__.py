"""What the instructor and the students read after grading: the class table, CSVs, feedback pages."""
