"""Process entry points: the worker that runs petition workflows and their activities."""
