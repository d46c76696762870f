"""Benchmarks whose results are committed under bench/results/ (JSON + Markdown with the command)."""
