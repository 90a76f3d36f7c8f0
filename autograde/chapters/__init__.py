"""Per-chapter checks that the notebooks' hidden tests call."""
