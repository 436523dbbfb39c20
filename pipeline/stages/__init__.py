"""Pure stages: each takes DataFrames and returns new ones, never touching files."""
