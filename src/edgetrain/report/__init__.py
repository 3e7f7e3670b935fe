"""Pull-request report: the checked hand-off from the edge runner and the sticky comment built from it."""
