"""Signed certificates: what buyers can check for themselves, without trusting the website."""
