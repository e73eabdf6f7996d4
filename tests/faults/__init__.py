"""Fault injection: real processes on loopback, killed, restarted and cut off."""
