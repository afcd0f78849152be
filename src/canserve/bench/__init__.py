"""Benchmarking live endpoints, comparing them with predictions, and calibrating from them."""
