"""Conversion routes: one registered function per (input format, output format) pair."""

from .base import (
    Route,
    RouteContext,
    find_route,
    input_formats,
    output_formats,
    register_route,
    supported_pairs,
)

__all__ = ["Route", "RouteContext", "find_route", "input_formats", "output_formats", "register_route",
           "supported_pairs"]
