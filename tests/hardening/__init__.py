"""Hardening: threads, fork, kills, full disks, corrupt input, sanitizers, security, bad input."""
