"""``edgetrain deploy``: the released image serves, rolled out slot by slot, rolled back in one step."""
